# -*- coding: utf-8 -*-
name 'unicode_escapes'
maintainer 'Jörg Müller'
maintainer_email 'jörg@example.de'
description "Tabs\tand \"quotes\" and back\\slash — déjà vu"
version '1.0.0'
