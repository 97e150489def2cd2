name 'some_libs'
version '1.0.0'
eager_load_libraries %w(helpers.rb resource_*.rb)
