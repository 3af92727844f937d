"""Everything that writes groups data. Each public function runs in one transaction."""
