name 'generated_deps'
version '0.3.0'
%w(mysql redis).map { |c| "app_#{c}" }.each { |d| depends d }
%w(ubuntu centos).each_with_index do |platform, i|
  supports platform, ">= #{i + 7}.0"
end
