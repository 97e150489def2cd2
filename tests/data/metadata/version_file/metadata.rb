name 'versioned_by_file'
version File.read(File.expand_path('VERSION', __dir__)).chomp
description IO.read(File.join(File.dirname(__FILE__), 'DESCRIPTION')).strip
