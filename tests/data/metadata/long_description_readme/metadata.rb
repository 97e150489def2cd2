name             'nginx_site'
maintainer       'Web Team'
maintainer_email 'web@example.org'
license          'MIT'
description      'Manages nginx sites'
long_description IO.read(File.join(File.dirname(__FILE__), 'README.md'))
version          '2.0.1'
depends 'nginx', '~> 12.0'
