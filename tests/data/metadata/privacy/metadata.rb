name 'internal_only'
version '0.0.1'
privacy true
license 'Proprietary - All Rights Reserved'
