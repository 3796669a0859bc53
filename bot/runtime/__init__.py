"""`tgmon run`: roles, signals, scheduler leadership, the SQLite instance lock, health."""

from bot.runtime.instance_lock import InstanceLock, InstanceLocked
from bot.runtime.roles import ROLES, RoleError, missing_credentials
from bot.runtime.supervisor import FatalServiceError, run_roles

__all__ = ["ROLES", "FatalServiceError", "InstanceLock", "InstanceLocked", "RoleError", "missing_credentials", "run_roles"]
