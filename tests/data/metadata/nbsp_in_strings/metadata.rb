name 'nbsp_text'
version '1.0.0'
description 'Prix : 10 €'
