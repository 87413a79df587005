"""The processes an emulated desktop session runs: the shell every desktop has, and its applications.

Get-Process lists them all; Get-WmsApp shows only the applications, by their display names.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Processes every interactive Windows desktop session runs; not user applications.
SHELL_PROCESSES = ("explorer.exe", "sihost.exe", "taskhostw.exe", "ctfmon.exe", "rdpclip.exe", "RuntimeBroker.exe")
#: Get-WmsApp shows an application's name, not its image (Microsoft's example: Calculator).
APP_TITLES = {
    "winword.exe": "Microsoft Word",
    "excel.exe": "Microsoft Excel",
    "powerpnt.exe": "Microsoft PowerPoint",
    "notepad.exe": "Notepad",
    "code.exe": "Visual Studio Code",
    "chrome.exe": "Google Chrome",
    "msedge.exe": "Microsoft Edge",
    "firefox.exe": "Firefox",
    "soffice.bin": "LibreOffice",
    "calc.exe": "Calculator",
    "acrord32.exe": "Adobe Acrobat Reader",
    "vlc.exe": "VLC media player",
    "teams.exe": "Microsoft Teams",
    "snippingtool.exe": "Snipping Tool",
}


@dataclass(frozen=True)
class LabProcess:
    pid: int
    image: str  # file name with extension, as on disk (WINWORD.EXE)
    session_id: int
    is_app: bool = False

    @property
    def process_name(self) -> str:
        """Get-Process's ProcessName: the image name without its extension."""
        return self.image.rsplit(".", 1)[0] if self.image.lower().endswith(".exe") else self.image
