"""7-day access hubs (issue 13): hubs, sites, rotas, slots and bookings across practices,
race-free in the database, over pages and a GP Connect-shaped FHIR R4 API. docs/access.md."""
