name 'conditional'
version '2.0.0'

if defined?(chef_version)
  chef_version '>= 15'
else
  depends 'compat_resource'
end

unless respond_to?(:nonexistent_thing)
  depends 'line', '~> 4.0'
end

if false
  depends 'never'
elsif 1 == 1
  issues_url 'https://example.com/issues'
end
