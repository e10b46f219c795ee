"""Binance spot, USD-M and COIN-M futures: the sans-IO codec (``BinanceCodec``)."""
