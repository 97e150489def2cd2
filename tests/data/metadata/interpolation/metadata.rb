cookbook = 'company_base'
name cookbook
maintainer 'Platform Team'
description "Installs/Configures #{cookbook}"
long_description "Base cookbook: #{name} (#{name.length} chars), owned by #{maintainer}"
version '1.0.0'
