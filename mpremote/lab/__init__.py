"""The emulated MultiPoint lab: loopback WSMan+PSRP servers that behave like Windows hosts.

Layers (each replaceable, like pypsrp's):
  faults.py     fault kinds, parsed from ``HOSTGLOB=KIND``
  labfile.py    seeded random labs and lab YAML files -> HostSpec list
  locales.py    quser/qwinsta text in en-US, es-ES, de-DE, fr-FR, it-IT
  hostmodel.py  one emulated host: sessions + command interpreter (quser, logoff, msg, ...)
  wsman.py      WSMan SOAP over HTTP POST /wsman, PSRP via psrpcore
  auth.py       Basic, NTLM / Negotiate(NTLM) with message encryption (pyspnego)
  tls.py        self-signed certificate generated at start
  server.py     the Lab: many hosts on loopback ports, journal, ready line, clean stop
  (``mpremote lab serve`` is mpremote/cli/lab.py)
"""
