name 'legacy_guarded'
maintainer 'Ops'
license 'Apache 2.0'
version '1.0.4'
source_url 'https://git.example.com/cookbooks/legacy_guarded' if respond_to?(:source_url)
issues_url 'https://git.example.com/cookbooks/legacy_guarded/issues' if respond_to?(:issues_url)
chef_version '>= 12.1' if respond_to?(:chef_version)
long_name 'never called' if respond_to?(:long_name)
