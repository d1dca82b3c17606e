"""stream_ae.connectors"""
