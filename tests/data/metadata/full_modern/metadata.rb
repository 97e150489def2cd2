# frozen_string_literal: true

name 'full_modern'
maintainer 'Sous Chefs'
maintainer_email 'help@sous-chefs.org'
license 'Apache-2.0'
description 'Installs and configures everything'
version '11.2.0'
source_url 'https://github.com/sous-chefs/full_modern'
issues_url 'https://github.com/sous-chefs/full_modern/issues'
chef_version '>= 15.3'
ohai_version '>= 16'
privacy false

depends 'yum', '>= 7.0'
depends 'selinux'

%w(amazon centos debian fedora opensuseleap oracle redhat rocky ubuntu).each do |os|
  supports os
end

gem 'toml-rb'
eager_load_libraries true
