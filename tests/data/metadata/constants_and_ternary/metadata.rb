SUPPORTED_PLATFORMS = %w(ubuntu debian).freeze
BUILD = ENV['BUILD_NUMBER']

name 'ci_built'
version BUILD ? "1.0.#{BUILD}" : '1.0.0'
SUPPORTED_PLATFORMS.each { |p| supports p }
