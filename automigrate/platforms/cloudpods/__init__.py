"""Cloudpods (the seed's platform): its region service's hosts and servers, and its live migration."""

from automigrate.platforms.cloudpods.platform import CloudpodsPlatform, client_from_settings

__all__ = ["CloudpodsPlatform", "client_from_settings"]
