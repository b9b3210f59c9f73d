"""Pure-Python simulator parts: battery, house, meter (no numpy, no Home Assistant)."""

from .battery import Battery, BatteryParams

__all__ = ["Battery", "BatteryParams"]
