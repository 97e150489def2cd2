name             'nginx_proxy'
maintainer       'Web Team'
maintainer_email 'web@example.com'
license          'Apache-2.0'
description      'nginx as a TLS-terminating reverse proxy, one site per application'
version          '2.1.0'
chef_version     '>= 15.0'

depends 'base', '~> 1.4'
