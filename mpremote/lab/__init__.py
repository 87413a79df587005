"""The emulated MultiPoint lab: loopback WSMan+PSRP servers that behave like Windows hosts.

Layers (each replaceable, like pypsrp's):
  faults.py     fault kinds, parsed from ``HOSTGLOB=KIND``
  labfile.py    seeded random labs and lab YAML files -> HostSpec list
  locales.py    quser/qwinsta text in en-US, es-ES, de-DE, fr-FR, it-IT
  hostmodel.py  one emulated host (``EmulatedHost``), built from:
    hoststate.py     its sessions, content faults and journal events
    native_tools.py  quser, qwinsta, logoff, tsdiscon, msg, hostname
    wms_cmdlets.py   Get-/Close-/Disconnect-/Lock-/Unlock-WmsSession, Get-WmsApp
    desktop_apps.py  the processes and applications each desktop session runs
  interpreter.py  PowerShell command lines (pslang.py: the tokenizer; cmdlets.py: binding)
  scripts_twin.py Python twins of mpremote's own scripts
  wsman.py      WSMan SOAP over HTTP POST /wsman, PSRP via psrpcore
  auth.py       Basic, NTLM / Negotiate(NTLM) with message encryption (pyspnego)
  tls.py        self-signed certificate generated at start
  server.py     the Lab: many hosts on loopback ports, journal, ready line, clean stop
  (``mpremote lab serve`` is mpremote/cli/lab.py)
"""
