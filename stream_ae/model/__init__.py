"""stream_ae.model"""
