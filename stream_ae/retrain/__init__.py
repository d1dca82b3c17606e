"""stream_ae.retrain"""
