"""Everything that writes referral data. Each public function runs in one transaction."""
