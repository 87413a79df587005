"""The only package that talks WinRM/PSRP (through pypsrp).

``connection.py`` opens one runspace pool per host and runs the package's own scripts with
parameters; ``errors.py`` translates pypsrp/requests/spnego exceptions into
:mod:`mpremote.errors` kinds in exactly one place; ``scripts.py`` loads the PowerShell the
package sends. pypsrp is imported lazily, inside functions, so ``mpremote --help`` stays fast.
"""
