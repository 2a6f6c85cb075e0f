"""The dearpygui window of the live app (window, viewport camera, panels, scripted runs)."""
