# SOCI with its PostgreSQL backend, as Debian's libsoci-dev installs it: that package ships neither a
# CMake package nor a pkg-config file. Defines the imported target SOCI::postgresql (the core library,
# the backend and their headers) when both libraries and the headers are found.
find_path(SOCIPostgreSQL_INCLUDE_DIR soci/postgresql/soci-postgresql.h)
find_library(SOCIPostgreSQL_CORE_LIBRARY NAMES soci_core)
find_library(SOCIPostgreSQL_LIBRARY NAMES soci_postgresql)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(SOCIPostgreSQL
  REQUIRED_VARS SOCIPostgreSQL_LIBRARY SOCIPostgreSQL_CORE_LIBRARY SOCIPostgreSQL_INCLUDE_DIR)
if(SOCIPostgreSQL_FOUND AND NOT TARGET SOCI::postgresql)
  find_package(PostgreSQL REQUIRED)
  add_library(SOCI::postgresql INTERFACE IMPORTED)
  set_target_properties(SOCI::postgresql PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${SOCIPostgreSQL_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${SOCIPostgreSQL_LIBRARY};${SOCIPostgreSQL_CORE_LIBRARY};PostgreSQL::PostgreSQL")
endif()
mark_as_advanced(SOCIPostgreSQL_INCLUDE_DIR SOCIPostgreSQL_CORE_LIBRARY SOCIPostgreSQL_LIBRARY)
