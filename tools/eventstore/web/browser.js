// The event browser (GET /): reads the store through the server's /api endpoints (docs/http.md,
// "The event browser"). Event text is only ever put into the page as text, never as markup.
'use strict';

const pageSize = 50;
const topTypes = 24; // the most frequent types shown with their counts
const $ = (id) => document.getElementById(id);

const state = {
  filter: new URLSearchParams(), // the form's fields, as the address's fragment keeps them
  cursors: [],                   // the `before` of each page above the one shown (paging back)
  before: 0,                     // this page: events below this position (0: the newest)
  events: [],                    // shown, newest first
  more: false,                   // older matching events exist
  selected: 0,                   // the position in the detail pane
  fresh: new Set(),              // positions that arrived live, highlighted once
  live: null,                    // AbortController of the live stream
  loads: 0,                      // page loads started: only the latest one's answer is shown
  token: sessionStorage.getItem('eventstore-token') || '',
};

// "a, b\, c" -> ["a", "b, c"]: commas separate; a backslash before one keeps it.
function splitList(text) {
  const items = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '\\' && text[i + 1] === ',') {
      current += ',';
      i++;
    } else if (text[i] === ',') {
      items.push(current.trim());
      current = '';
    } else {
      current += text[i];
    }
  }
  items.push(current.trim());
  return items.filter((item) => item !== '');
}

// The filter as the API's query parameters (without paging).
function filterParams() {
  const f = state.filter;
  const p = new URLSearchParams();
  for (const t of splitList(f.get('types') || '')) p.append('type', t);
  for (const t of splitList(f.get('tags') || '')) p.append('tag', t);
  for (const w of splitList(f.get('where') || '')) p.append('where', w);
  if (f.get('all')) p.set('all_where', '1');
  const from = Number(f.get('from') || 0);
  if (from > 1) p.set('after', String(from - 1));
  if (f.get('occurred_from')) p.set('occurred_from', f.get('occurred_from'));
  if (f.get('occurred_until')) p.set('occurred_until', f.get('occurred_until'));
  return p;
}

// The upper bound of the first page: below "to" + 1 when the filter has one.
function firstBefore() {
  const to = Number(state.filter.get('to') || 0);
  return to > 0 ? to + 1 : 0;
}

function headers() {
  return state.token ? { Authorization: 'Bearer ' + state.token } : {};
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: headers() });
  if (response.status === 401) {
    $('token-form').hidden = false;
    throw new Error('this server needs a token');
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function setStatus(text, error = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', error);
}

function element(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

// Indents JSON text without parsing it into numbers, so that every digit stays as stored.
function pretty(text) {
  let out = '';
  let depth = 0;
  const newline = () => '\n' + '  '.repeat(depth);
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j;
    } else if (c === '{' || c === '[') {
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      if (text[j] === (c === '{' ? '}' : ']')) {
        out += c + text[j];
        i = j;
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === '}' || c === ']') {
      depth--;
      out += newline() + c;
    } else if (c === ',') {
      out += ',' + newline();
    } else if (c === ':') {
      out += ': ';
    } else if (!/\s/.test(c)) {
      out += c;
    }
  }
  return out;
}

function tagList(tags) {
  const span = element('span');
  for (const t of tags) span.append(element('span', 'tag', t));
  return span;
}

function renderEvents() {
  const body = $('events').tBodies[0];
  body.replaceChildren();
  if (state.events.length === 0) {
    const row = element('tr', 'empty');
    const cell = element('td', '', 'No events match.');
    cell.colSpan = 5;
    row.append(cell);
    body.append(row);
  }
  for (const e of state.events) {
    const row = element('tr');
    row.dataset.position = e.position;
    row.append(element('td', 'position', String(e.position)), element('td', 'time', e.occurred_at.replace('T', ' ')),
               element('td', 'type', e.type));
    const tags = element('td', 'tags');
    tags.append(tagList(e.tags));
    row.append(tags, element('td', 'payload', e.payload));
    if (e.position === state.selected) row.classList.add('selected');
    if (state.fresh.has(e.position)) row.classList.add('fresh');
    row.addEventListener('click', () => select(e));
    body.append(row);
  }
  const first = state.events.length ? state.events[state.events.length - 1].position : 0;
  const last = state.events.length ? state.events[0].position : 0;
  $('page').textContent = state.events.length ? `positions ${last} to ${first}` : '';
  $('newer').disabled = state.cursors.length === 0;
  $('older').disabled = !state.more;
}

// Keeps the selected event in the address (event=N), so that a link opens it; no reload.
function remember(position) {
  const f = new URLSearchParams(state.filter);
  if (position) f.set('event', String(position));
  else f.delete('event');
  state.filter = f;
  history.replaceState(null, '', '#' + f.toString());
}

function select(e) {
  state.selected = e.position;
  remember(e.position);
  $('detail').hidden = false;
  $('detail-title').textContent = e.type;
  $('detail-position').textContent = String(e.position);
  $('detail-occurred').textContent = e.occurred_at;
  $('detail-tags').replaceChildren(tagList(e.tags));
  $('detail-id').textContent = e.id || '—';
  $('detail-payload').textContent = pretty(e.payload);
  $('detail-metadata').textContent = pretty(e.metadata);
  for (const row of $('events').tBodies[0].rows) {
    row.classList.toggle('selected', Number(row.dataset.position) === e.position);
  }
}

async function loadStats() {
  try {
    const s = await api(`/api/stats?top=${topTypes}`);
    $('store').textContent = `${s.table} · ${s.events.toLocaleString('en')} events · newest position ${s.newest_position} · ${s.total_size}`;
    const list = $('types');
    list.replaceChildren();
    for (const [type, count] of Object.entries(s.types)) {
      const button = element('button', '', type);
      button.type = 'button';
      button.dataset.type = type;
      button.title = `show only ${type} events`;
      button.append(element('span', 'count', count.toLocaleString('en')));
      button.addEventListener('click', () => {
        const f = new URLSearchParams(state.filter);
        f.set('types', type.replaceAll(',', '\\,'));
        navigate(f);
      });
      const item = element('li');
      item.append(button);
      list.append(item);
    }
    if (s.type_count > topTypes) {
      list.append(element('li', 'more', `and ${(s.type_count - topTypes).toLocaleString('en')} types more`));
    }
  } catch (error) {
    $('store').textContent = 'counts unavailable: ' + error.message;
  }
}

async function loadEvents() {
  stopLive();
  const load = ++state.loads;
  const p = filterParams();
  const before = state.before || firstBefore();
  if (before === 1) { // nothing lies below position 1
    state.events = [];
    state.more = false;
    renderEvents();
    return;
  }
  p.set('limit', String(pageSize));
  if (before > 0) p.set('before', String(before));
  setStatus('loading…');
  $('older').disabled = $('newer').disabled = true; // one page at a time
  let page;
  try {
    page = await api('/api/events?' + p);
  } catch (error) {
    if (load !== state.loads) return;
    state.events = [];
    renderEvents();
    setStatus(error.message, true);
    return;
  }
  if (load !== state.loads) return; // a later load (another filter or page) has taken over
  state.events = page.events;
  state.more = page.more;
  renderEvents();
  setStatus('');
  try {
    await showLinkedEvent();
  } catch (error) {
    setStatus(error.message, true);
  }
  if (load === state.loads && $('live').checked) startLive();
}

// The event the address names (event=N), whether or not this page holds it.
async function showLinkedEvent() {
  const position = Number(state.filter.get('event') || 0);
  if (!position || position === state.selected) return;
  let e = state.events.find((shown) => shown.position === position);
  if (!e) {
    const found = await api(`/api/events?after=${position - 1}&before=${position + 1}&limit=1`);
    e = found.events[0];
  }
  if (e) select(e);
  else setStatus(`there is no event at position ${position}`, true);
}

// Live mode follows the log above the newest event shown, on the first page only.
function liveAllowed() {
  return state.cursors.length === 0 && firstBefore() === 0;
}

function stopLive() {
  if (state.live) state.live.abort();
  state.live = null;
}

function startLive() {
  stopLive();
  if (!liveAllowed()) {
    setStatus('live mode shows the newest events: go to the first page, without a "to" position', true);
    return;
  }
  const controller = new AbortController();
  state.live = controller;
  // Above the newest shown, and never below the filter's own lower bound.
  let after = Math.max(state.events.length ? state.events[0].position : 0, Number(filterParams().get('after') || 0));
  const follow = async () => {
    while (!controller.signal.aborted) {
      try {
        const p = filterParams();
        p.set('after', String(after));
        const response = await fetch('/api/live?' + p, { headers: headers(), signal: controller.signal });
        if (response.status === 401) {
          $('token-form').hidden = false;
          setStatus('live: this server needs a token', true);
          return;
        }
        if (!response.ok) throw new Error((await response.json()).error || response.statusText);
        setStatus('live');
        const reader = response.body.getReader();
        try {
          const decoder = new TextDecoder();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true });
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              const message = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              for (const line of message.split('\n')) {
                if (line.startsWith('data: ')) {
                  const e = JSON.parse(line.slice(6));
                  if (e.error) throw new Error(e.error);
                  after = e.position;
                  arrived(e);
                }
              }
            }
          }
        } finally {
          reader.cancel().catch(() => {});
        }
      } catch (error) {
        if (controller.signal.aborted) return;
        setStatus('live: ' + error.message + '; trying again', true);
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  follow();
}

function arrived(e) {
  state.events.unshift(e);
  if (state.events.length > pageSize) {
    state.events.pop();
    state.more = true;
  }
  state.fresh.add(e.position);
  setTimeout(() => state.fresh.delete(e.position), 3000); // highlighted while it is new
  renderEvents();
}

function navigate(filter) {
  const text = filter.toString();
  if (location.hash.slice(1) === text) {
    showFilter();
  } else {
    location.hash = text; // hashchange loads it
  }
}

// The address's fragment holds the filter, so that a view is a link.
function showFilter() {
  state.filter = new URLSearchParams(location.hash.slice(1));
  state.cursors = [];
  state.before = 0;
  const form = $('filters');
  for (const input of form.querySelectorAll('input')) {
    if (input.type === 'checkbox') input.checked = state.filter.has(input.name);
    else input.value = state.filter.get(input.name) || '';
  }
  loadEvents();
}

function init() {
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    const f = new URLSearchParams();
    for (const input of $('filters').querySelectorAll('input')) {
      if (input.type === 'checkbox' ? input.checked : input.value.trim() !== '') {
        f.set(input.name, input.type === 'checkbox' ? '1' : input.value.trim());
      }
    }
    navigate(f);
  });
  $('clear').addEventListener('click', () => navigate(new URLSearchParams()));
  $('older').addEventListener('click', () => {
    if (!state.events.length) return;
    state.cursors.push(state.before);
    state.before = state.events[state.events.length - 1].position;
    loadEvents();
  });
  $('newer').addEventListener('click', () => {
    state.before = state.cursors.pop() || 0;
    loadEvents();
  });
  $('live').addEventListener('change', () => {
    if (!$('live').checked) {
      stopLive();
      setStatus('');
    } else if (state.cursors.length) {
      state.cursors = [];
      state.before = 0;
      loadEvents();
    } else {
      startLive();
    }
  });
  $('refresh-stats').addEventListener('click', loadStats);
  $('close-detail').addEventListener('click', () => {
    $('detail').hidden = true;
    state.selected = 0;
    remember(0);
    renderEvents();
  });
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    state.token = $('token-form').elements.token.value;
    sessionStorage.setItem('eventstore-token', state.token);
    $('token-form').hidden = true;
    loadStats();
    loadEvents();
  });
  window.addEventListener('hashchange', showFilter);
  loadStats();
  showFilter();
}

init();
