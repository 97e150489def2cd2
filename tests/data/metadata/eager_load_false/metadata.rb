name 'lazy_libs'
version '1.0.0'
eager_load_libraries false
