def platform_list
  %w(ubuntu debian)
end

name ENV.fetch('COOKBOOK_NAME', 'helper_driven')
version ENV.fetch('COOKBOOK_VERSION') { '0.5.0' }
platform_list.each { |p| supports p, '>= 10' }
