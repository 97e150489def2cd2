name 'rescued'
version(IO.read(File.join(File.dirname(__FILE__), 'VERSION')).strip) rescue version('0.1.0')
maintainer (File.read('MAINTAINER') rescue 'Nobody').strip
