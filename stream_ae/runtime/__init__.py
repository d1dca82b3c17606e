"""stream_ae.runtime"""
