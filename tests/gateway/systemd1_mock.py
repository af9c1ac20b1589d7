# SPDX-License-Identifier: Apache-2.0
"""python3-dbusmock template (python3 -m dbusmock --system --template
THIS_FILE): systemd's Manager as fieldgate's firmware Update uses it.

The test declares a unit with org.fieldgate.Test.AddMockUnit(name, argv,
log): StartUnit(name, mode) then runs argv the way systemd runs a
Type=oneshot unit's ExecStart: the call is answered at once with a job
path, the command runs (output to log), and JobRemoved(id, job, name,
result) follows when it ends: "done" for exit status 0, else "failed".
StartUnit of any other name is answered NoSuchUnit; of a unit declared
with an empty argv, InteractiveAuthorizationRequired (polkit said no).
GetUnit(name) gives the unit's object, whose ActiveState is "activating"
while the command runs, then "inactive" or "failed". Every call is in the
Mock interface's GetCalls().
"""
import os
import subprocess
import types

import dbus
from dbusmock import mockobject
from gi.repository import GLib

BUS_NAME = "org.freedesktop.systemd1"
MAIN_OBJ = "/org/freedesktop/systemd1"
MAIN_IFACE = "org.freedesktop.systemd1.Manager"
SYSTEM_BUS = True
UNIT_IFACE = "org.freedesktop.systemd1.Unit"


def unit_path(name):
    return "/org/freedesktop/systemd1/unit/" + "".join(c if c.isalnum() else "_" for c in name)


def set_state(name, state):
    mockobject.objects[unit_path(name)].UpdateProperties(UNIT_IFACE, {"ActiveState": dbus.String(state)})


def start_unit(self, name, mode):
    name = str(name)
    if name not in self.fg_units:
        raise dbus.exceptions.DBusException("Unit %s not found." % name, name="org.freedesktop.systemd1.NoSuchUnit")
    argv, log = self.fg_units[name]
    if not argv:
        # What polkit's refusal looks like to the caller.
        raise dbus.exceptions.DBusException("Interactive authentication required.",
                                            name="org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
    self.fg_job += 1
    job_id, job = self.fg_job, "/org/freedesktop/systemd1/job/%d" % self.fg_job
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    set_state(name, "activating")

    def ended(pid, status):
        result = "done" if os.waitstatus_to_exitcode(status) == 0 else "failed"
        proc.returncode = status  # reaped by GLib
        set_state(name, "inactive" if result == "done" else "failed")
        self.EmitSignal(MAIN_IFACE, "JobRemoved", "uoss",
                        [dbus.UInt32(job_id), dbus.ObjectPath(job), name, result])

    GLib.child_watch_add(GLib.PRIORITY_DEFAULT, proc.pid, ended)
    return dbus.ObjectPath(job)


def add_mock_unit(self, name, argv, log):
    name = str(name)
    if name not in self.fg_units:
        self.AddObject(unit_path(name), UNIT_IFACE, {"Id": name, "ActiveState": "inactive"}, [])
    self.fg_units[name] = ([str(a) for a in argv], str(log))


def get_unit(self, name):
    if str(name) not in self.fg_units:
        raise dbus.exceptions.DBusException("Unit %s not loaded." % name, name="org.freedesktop.systemd1.NoSuchUnit")
    return dbus.ObjectPath(unit_path(str(name)))


def load(mock, _parameters):
    mock.fg_units = {}
    mock.fg_job = 0
    mock.fg_start_unit = types.MethodType(start_unit, mock)
    mock.fg_add_mock_unit = types.MethodType(add_mock_unit, mock)
    mock.fg_get_unit = types.MethodType(get_unit, mock)
    # AddMethod: the calls are logged (GetCalls), the code runs the unit.
    mock.AddMethod(MAIN_IFACE, "Subscribe", "", "", "")
    mock.AddMethod(MAIN_IFACE, "StartUnit", "ss", "o", "ret = self.fg_start_unit(args[0], args[1])")
    mock.AddMethod(MAIN_IFACE, "GetUnit", "s", "o", "ret = self.fg_get_unit(args[0])")
    mock.AddMethod("org.fieldgate.Test", "AddMockUnit", "sass", "",
                   "self.fg_add_mock_unit(args[0], args[1], args[2])")
