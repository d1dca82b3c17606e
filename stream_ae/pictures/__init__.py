"""Every picture stream-ae draws (matplotlib, the `plots` extra): a detection run, the
demo plant, the Grafana dashboard's panels. Imported only when a picture is asked for."""
