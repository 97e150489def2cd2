name 'ntp'
version '3.7.0'
license 'Apache-2.0'

%w(ubuntu debian redhat centos fedora scientific amazon oracle freebsd).each do |os|
  supports os
end
