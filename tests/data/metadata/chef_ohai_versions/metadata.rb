name 'version_gated'
version '0.9.0'
chef_version '>= 14', '< 19'
chef_version '~>13.12'
ohai_version '>= 14.0'
ohai_version
