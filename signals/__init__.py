"""costbt signals: indicators and signals derived from the point-in-time panel."""
