name 'aws_tools'
version '3.0.0'
gem 'aws-sdk-s3', '~> 1.0'
gem 'inifile'
gem 'nokogiri', '>= 1.10', require: false
