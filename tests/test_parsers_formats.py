"""Scenario tests on messages built here, in the shapes described in shared/docs/sources.md
(not copies of the samples): each vendor's vocabulary, languages, encodings, forwards."""

from __future__ import annotations

import base64
import quopri
from datetime import datetime

import pytest

from parsers import (
    AlertEvent,
    BackupResult,
    Family,
    ParsedMessage,
    Severity,
    Status,
    parse_message,
)
from parsers.dates import PARIS


def mail(
    subject: str | bytes,
    body: str | bytes,
    *,
    sender: str = "alerts@client.example",
    ctype: str | None = "text/plain",
    charset: str | None = "utf-8",
    cte: str = "8bit",
    date: str = "Mon, 23 Nov 2026 10:00:00 +0100",
    extra_headers: tuple[str, ...] = (),
) -> bytes:
    """A raw message; the body is encoded with ``charset`` then ``cte`` as declared."""
    payload = body if isinstance(body, bytes) else body.encode(charset or "utf-8")
    if cte == "base64":
        payload = base64.encodebytes(payload)
    elif cte == "quoted-printable":
        payload = quopri.encodestring(payload)
    subject_bytes = subject if isinstance(subject, bytes) else subject.encode("utf-8")
    head = [
        b"From: " + sender.encode("utf-8"),
        b"To: alerts@desk.example",
        b"Date: " + date.encode(),
        b"Message-ID: <t-1@test.example>",
        b"Subject: " + subject_bytes,
        b"MIME-Version: 1.0",
    ]
    if ctype:
        head.append(
            f"Content-Type: {ctype}".encode()
            + (f'; charset="{charset}"'.encode() if charset else b"")
        )
    head.append(b"Content-Transfer-Encoding: " + cte.encode())
    head.extend(h.encode("utf-8") for h in extra_headers)
    return (
        b"\r\n".join(head) + b"\r\n\r\n" + payload.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    )


def one(raw: bytes) -> AlertEvent:
    parsed = parse_message(raw)
    assert len(parsed.events) == 1, parsed.events
    return parsed.events[0]


def parsed(raw: bytes) -> ParsedMessage:
    return parse_message(raw)


# --------------------------------------------------------------------------- HP AlertMail


def hp_mail(severity: str, component: str, state: str, host: str = "SRV-HV02") -> bytes:
    body = (
        f"EVENT (14 Mar 22:41): {component} Status has changed to: {state}.\n\n"
        f"Server: {host}\nProduct: ProLiant DL360 Gen9\n"
    )
    return mail(
        f"HP AlertMail-042: ({severity}) {component}: {state}",
        body,
        sender=f"{host} <ilo-{host.lower()}@client.example>",
        date="Sat, 14 Mar 2026 22:45:00 +0100",
    )


@pytest.mark.parametrize(
    ("severity", "component", "state", "status", "desk_severity", "check"),
    [
        ("FATAL", "Processor 2", "Failed", Status.PROBLEM, Severity.CRITICAL, "processor"),
        (
            "CRITICAL",
            "Power Supply #2",
            "Failed",
            Status.PROBLEM,
            Severity.CRITICAL,
            "power_supply",
        ),
        (
            "WARNING MAJOR",
            "Smart Array P420i Logical Drive 2",
            "Degraded (Interim Recovery)",
            Status.PROBLEM,
            Severity.MAJOR,
            "raid",
        ),
        (
            "WARNING MINOR",
            "Cache Module Battery",
            "Charging",
            Status.PROBLEM,
            Severity.MINOR,
            "battery",
        ),
        (
            "WARNING",
            "Temperature Sensor 3",
            "Caution",
            Status.PROBLEM,
            Severity.WARNING,
            "temperature",
        ),
        ("CAUTION", "Memory Module 4", "Degraded", Status.PROBLEM, Severity.WARNING, "memory"),
        (
            "FAILED",
            "Physical Drive Bay 5",
            "Failed",
            Status.PROBLEM,
            Severity.CRITICAL,
            "physical_disk",
        ),
        ("NORMAL", "Fan #1", "OK", Status.RECOVERY, Severity.INFO, "fan"),
        ("REPAIRED", "NIC Port 1", "Link Up", Status.RECOVERY, Severity.INFO, "nic"),
        ("NORMAL", "Tape Drive", "OK", Status.RECOVERY, Severity.INFO, "tape"),
        ("INFORMATIONAL", "Tape Drive", "Media loaded", Status.INFO, Severity.INFO, "tape"),
        ("NORMAL", "System Board", "OK", Status.RECOVERY, Severity.INFO, "other"),
    ],
)
def test_hp_severities_and_components(
    severity: str,
    component: str,
    state: str,
    status: Status,
    desk_severity: Severity,
    check: str,
) -> None:
    event = one(hp_mail(severity, component, state))
    assert (event.family, event.status, event.severity, event.check) == (
        Family.HARDWARE,
        status,
        desk_severity,
        check,
    )
    assert event.host == "SRV-HV02"
    assert event.target is None
    assert event.product == "hp"
    assert event.extra["component"] == component


def test_hp_failure_state_wins_over_normal_severity() -> None:
    event = one(hp_mail("NORMAL", "Physical Drive Bay 3", "Failed"))
    assert event.status is Status.PROBLEM
    assert event.check == "physical_disk"


def test_hp_event_time_takes_year_from_date_header_across_new_year() -> None:
    raw = mail(
        "HP AlertMail-999: (CRITICAL) Fan #2: Failed",
        "EVENT (31 Dec 23:50): Fan #2 Status has changed to: Failed.\n\nServer: SRV-X\n",
        sender="SRV-X <ilo-srv-x@client.example>",
        date="Fri, 01 Jan 2027 00:20:00 +0100",
    )
    event = one(raw)
    assert event.occurred_at == datetime(2026, 12, 31, 23, 50, tzinfo=PARIS)


def test_hp_onboard_administrator_host_from_enclosure_sender() -> None:
    raw = mail(
        "HP AlertMail-007: (WARNING) Blade Bay 3 Power Supply: Degraded",
        "EVENT (02 Feb 08:00): Blade Bay 3 Power Supply Status has changed to: Degraded.\n",
        sender="Enclosure ENC-01 <oa-enc01@client.example>",
    )
    event = one(raw)
    assert (event.host, event.check, event.status) == ("ENC-01", "power_supply", Status.PROBLEM)


def test_hp_server_name_with_domain_is_stripped() -> None:
    event = one(hp_mail("CRITICAL", "Fan #4", "Failed", host="srv-hv03.corp.local"))
    assert event.host == "srv-hv03"


# --------------------------------------------------------------------------- Dell OMSA


@pytest.mark.parametrize(
    ("code", "check", "severity"),
    [
        ("powersupply", "power_supply", Severity.CRITICAL),
        ("fanwarn", "fan", Severity.WARNING),
        ("fanfail", "fan", Severity.CRITICAL),
        ("tempwarn", "temperature", Severity.WARNING),
        ("tempfail", "temperature", Severity.CRITICAL),
        ("redundegrad", "power_supply", Severity.WARNING),
        ("redunlost", "power_supply", Severity.MAJOR),
        ("batterywarn", "battery", Severity.WARNING),
        ("batteryfail", "battery", Severity.CRITICAL),
        ("pdiskwarn", "physical_disk", Severity.WARNING),
        ("pdiskfail", "physical_disk", Severity.CRITICAL),
        ("vdiskwarn", "raid", Severity.WARNING),
        ("vdiskfail", "raid", Severity.CRITICAL),
        ("storagectrlfail", "raid", Severity.CRITICAL),
        ("memfail", "memory", Severity.CRITICAL),
        ("processorfail", "processor", Severity.CRITICAL),
    ],
)
def test_dell_event_codes(code: str, check: str, severity: Severity) -> None:
    raw = mail(
        f"Dell OMSA {code} Alert on SRV-SQL01.corp.local",
        f"OMSA reported {code} on SRV-SQL01.\n",
        sender="SRV-SQL01@client.example",
    )
    event = one(raw)
    assert (event.family, event.status, event.check, event.severity) == (
        Family.HARDWARE,
        Status.PROBLEM,
        check,
        severity,
    )
    assert event.host == "SRV-SQL01"
    assert event.product == "dell-omsa"


def test_dell_fan_redundancy_uses_body_hint() -> None:
    raw = mail("Dell OMSA redunlost Alert on SRV-B", "Fan redundancy lost was reported on SRV-B.")
    assert one(raw).check == "fan"


# --------------------------------------------------------------------------- IBM


def test_ibm_warning_battery() -> None:
    raw = mail(
        "ServeRAID Manager Event Notification - Event type Warning",
        "Event Description: Battery backup unit charge low: controller 2\nEvent Type: Warning\n"
        "Event Source: SRV-OLD1\nDate: 03/02/2026\nTime: 11:15:00 PM\n",
    )
    event = one(raw)
    assert (event.status, event.check, event.host, event.severity) == (
        Status.PROBLEM,
        "battery",
        "SRV-OLD1",
        Severity.WARNING,
    )
    assert event.occurred_at == datetime(2026, 3, 2, 23, 15, tzinfo=PARIS)


def test_ibm_information_rebuild_complete_is_recovery() -> None:
    raw = mail(
        "ServeRAID Manager Event Notification - Event type Information",
        "Event Description: Rebuild complete: controller 1, logical drive 2\n"
        "Event Type: Information\nEvent Source: SRV-OLD1\n",
    )
    event = one(raw)
    assert (event.status, event.check) == (Status.RECOVERY, "raid")


# --------------------------------------------------------------------------- Arcserve


@pytest.mark.parametrize(
    ("sentence", "result"),
    [
        ("Opération Sauvegarde réussie.", BackupResult.SUCCESS),
        (
            "Opération Sauvegarde incomplète. Nombre d'erreurs/avertissements : 0/2",
            BackupResult.INCOMPLETE,
        ),
        ("Impossible d'effectuer l'opération Sauvegarde.", BackupResult.FAILED),
        ("Opération Sauvegarde annulée.", BackupResult.CANCELLED),
    ],
)
def test_arcserve_french(sentence: str, result: BackupResult) -> None:
    body = (
        f"Tâche : 412\nServeur : SRV-BCK\nDescription : Sauvegarde nuit. (21/11/2026)\n{sentence}\n"
    )
    event = one(mail("ARCserve Backup Tâche 412 - SRV-BCK", body, sender="arcserve@c.example"))
    assert (event.family, event.backup_result, event.host, event.target) == (
        Family.BACKUP,
        result,
        "SRV-BCK",
        "Sauvegarde nuit",
    )
    assert event.status is (Status.INFO if result is BackupResult.SUCCESS else Status.PROBLEM)


@pytest.mark.parametrize(
    ("sentence", "result"),
    [
        ("Vorgang Sichern erfolgreich.", BackupResult.SUCCESS),
        ("Vorgang Sichern unvollständig.Anzahl an Fehlern/Warnungen: 0/3", BackupResult.INCOMPLETE),
        ("Vorgang Sichern konnte nicht durchgeführt werden.", BackupResult.FAILED),
        ("Vorgang Sichern abgebrochen.", BackupResult.CANCELLED),
    ],
)
def test_arcserve_german(sentence: str, result: BackupResult) -> None:
    body = (
        "Job:\n777\nServer: SRV-NAS\nBeschreibung: Tagessicherung. (02.12.2026)\n"
        "1.234 Verzeichnis(se) 56.789 Datei(en) (12,50 GB) auf Datenträger gesichert.\n"
        f"{sentence}\n"
    )
    event = one(mail("ARCserve Backup Job 777 - SRV-NAS", body, sender="arcserve@c.example"))
    assert (event.backup_result, event.host, event.target) == (result, "SRV-NAS", "Tagessicherung")
    assert event.extra.get("job_no") == "777"


def test_arcserve_german_latin1_without_declared_charset() -> None:
    body = (
        "Job:\n9\nServer: SRV-LAT\nBeschreibung: Wochensicherung. (05.12.2026)\n"
        "Vorgang Sichern unvollständig. Anzahl an Fehlern/Warnungen: 0/1\n"
    ).encode("latin-1")
    raw = mail(
        "ARCserve Backup Job 9 - SRV-LAT",
        body,
        ctype=None,
        charset=None,
        sender="arcserve@c.example",
    )
    parsed_message = parsed(raw)
    assert "unvollständig" in parsed_message.envelope.text
    event = parsed_message.events[0]
    assert (event.backup_result, event.target) == (BackupResult.INCOMPLETE, "Wochensicherung")


def test_arcserve_english_job_failed() -> None:
    raw = mail(
        "Arcserve Backup: Job Failed - Job 31 (Exchange nightly) on SRV-MX.corp.local",
        "Job No: 31\nDescription: Exchange nightly\nServer: SRV-MX\nStart: 12/01/2026 22:00:00\n"
        "End: 12/02/2026 01:00:00\nJob Failed\n",
    )
    event = one(raw)
    assert (event.backup_result, event.host, event.target) == (
        BackupResult.FAILED,
        "SRV-MX",
        "Exchange nightly",
    )
    assert event.occurred_at == datetime(2026, 12, 2, 1, 0, tzinfo=PARIS)


def test_arcserve_failure_wins_over_success() -> None:
    raw = mail(
        "Arcserve Backup: Job Completed Successfully - Job 5 (Nightly) on SRV-A",
        "Description: Nightly\nServer: SRV-A\nNode SRV-A: Job Completed Successfully\n"
        "Node SRV-B: Backup Operation Failed\n",
    )
    assert one(raw).backup_result is BackupResult.FAILED


# --------------------------------------------------------------------------- Veeam


def _b64_words(text: str) -> str:
    data = text.encode("utf-8")
    half = len(data) // 2
    return " ".join(
        f"=?UTF-8?B?{base64.b64encode(part).decode()}?=" for part in (data[:half], data[half:])
    )


def test_veeam_base64_rfc2047_subject() -> None:
    subject = _b64_words("[Failed] Nightly DC (SRV-DC02) 0 of 1 VMs processed")
    raw = mail(
        subject,
        "Job: Nightly DC\nServer: SRV-DC02\nSuccess: 0 Warning: 0 Error: 1\n",
        sender="veeam@client.example",
    )
    event = one(raw)
    assert (event.family, event.status, event.backup_result) == (
        Family.BACKUP,
        Status.PROBLEM,
        BackupResult.FAILED,
    )
    assert (event.host, event.target, event.product) == ("SRV-DC02", "Nightly DC", "veeam")


def test_veeam_success_and_counts_override() -> None:
    ok = one(
        mail(
            "[Success] File servers (2 VMs)",
            "Success: 2 Warning: 0 Error: 0",
            sender="veeam@c.example",
        )
    )
    assert (ok.backup_result, ok.status, ok.target) == (
        BackupResult.SUCCESS,
        Status.INFO,
        "File servers",
    )
    worse = one(
        mail(
            "[Success] File servers (2 VMs)",
            "Success: 1 Warning: 0 Error: 1",
            sender="veeam@c.example",
        )
    )
    assert worse.backup_result is BackupResult.FAILED


# --------------------------------------------------------------------------- WSB


def wsb_html(host: str, result: str, message: str = "") -> str:
    return (
        f"<html><body><h2>Windows Server Backup report for {host}</h2><table>"
        f"<tr><td>Last Successful Backup</td><td>2026-11-20 01:00</td></tr>"
        f"<tr><td>Backup Result</td><td>{result}</td></tr>"
        f"<tr><td>Error Message</td><td>{message}</td></tr></table></body></html>"
    )


@pytest.mark.parametrize(
    ("subject", "host", "result"),
    [
        ('"ACME" Sauvegarde OK "SRV-DC03"', "SRV-DC03", BackupResult.SUCCESS),
        ('ACME Sauvegarde OK SRV-APP2"', "SRV-APP2", BackupResult.SUCCESS),
        ("sauvegarde echouee de 'SRV-FS1'", "SRV-FS1", BackupResult.FAILED),
        ("Sauvegarde échouée de SRV-FS1", "SRV-FS1", BackupResult.FAILED),
        ("Successful Backup on SRV-WEB", "SRV-WEB", BackupResult.SUCCESS),
        ("Failed Backup on srv-web.corp.local", "srv-web", BackupResult.FAILED),
    ],
)
def test_wsb_subjects(subject: str, host: str, result: BackupResult) -> None:
    body = "Résultat de la sauvegarde : voir le journal.\n"
    event = one(mail(subject, body, sender="backup@client.example"))
    assert (event.family, event.host, event.backup_result, event.target) == (
        Family.BACKUP,
        host,
        result,
        None,
    )


def test_wsb_hex_error_code_beats_successful_subject() -> None:
    raw = mail(
        "Successful Backup on SRV-X",
        wsb_html("SRV-X", "0x8078015B", "Access denied."),
        ctype="text/html",
        cte="quoted-printable",
    )
    assert one(raw).backup_result is BackupResult.FAILED


def test_wsb_decimal_error_code_and_event_ids() -> None:
    failed = one(mail("Backup report", wsb_html("SRV-Y", "2147942455"), ctype="text/html"))
    assert (failed.backup_result, failed.host) == (BackupResult.FAILED, "SRV-Y")
    incomplete = one(mail("Windows Server Backup SRV-Z", "Event ID: 7\nComputer: SRV-Z\n"))
    assert incomplete.backup_result is BackupResult.INCOMPLETE
    warning = one(mail("Windows Server Backup SRV-Z", "Event ID: 146\nComputer: SRV-Z\n"))
    assert warning.backup_result is BackupResult.WARNING


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Failed Backup on SRV-Q", "Backup report: the script itself failed (Get-WBSummary).\n"),
        ("Sauvegarde KO SRV-Q", "Erreur : le script a échoué avant de lire le journal.\n"),
    ],
)
def test_wsb_script_failure_is_not_a_backup_result(subject: str, body: str) -> None:
    event = one(mail(subject, body))
    assert event.backup_result is None
    assert event.family is Family.UNKNOWN
    assert event.status is Status.INFO
    assert event.host == "SRV-Q"


# --------------------------------------------------------------------------- NTBackup


def test_ntbackup_english_success() -> None:
    body = (
        "Backup Status\nOperation: Backup\nActive backup destination: File\n\n"
        'Backup (via shadow copy) of "D: Data"\nBackup Type: Normal\n\n'
        "Backup started on 11/21/2026 at 11:00 PM.\nBackup completed on 11/21/2026 at 11:42 PM.\n"
        "Directories: 120\nFiles: 5400\n----------------------\n\nVerify Status\n"
        "Operation: Verify\nVerify completed on 11/21/2026 at 11:50 PM.\n"
    )
    event = one(mail("NTBackup report SRV-2003", body, sender="ntbackup@c.example"))
    assert (event.backup_result, event.host, event.product) == (
        BackupResult.SUCCESS,
        "SRV-2003",
        "ntbackup",
    )
    assert event.occurred_at == datetime(2026, 11, 21, 23, 42, tzinfo=PARIS)


def test_ntbackup_french_error() -> None:
    body = (
        "Statut de la sauvegarde\nOpération : Sauvegarde\n"
        "Erreur : l'opération n'a pas été effectuée car aucun média inutilisé n'était disponible.\n"
    )
    event = one(
        mail(
            "NTBackup SRV-COMPTA : rapport", body, sender="ntbackup@c.example", charset="iso-8859-1"
        )
    )
    assert (event.backup_result, event.host, event.status) == (
        BackupResult.FAILED,
        "SRV-COMPTA",
        Status.PROBLEM,
    )


def test_ntbackup_french_success_with_verification() -> None:
    body = (
        'Opération de sauvegarde de "E:" terminée.\nVérification : opération de vérification '
        "terminée.\n"
    )
    event = one(mail("=?iso-8859-1?q?NTBackup_SRV-B_:_sauvegarde_termin=E9e?=", body))
    assert (event.backup_result, event.host) == (BackupResult.SUCCESS, "SRV-B")


# --------------------------------------------------------------------------- tar / cpio


def test_cpio_cron_success() -> None:
    raw = mail(
        "Cron <root@srv-lx01> find /data -depth | cpio -ov > /dev/st0",
        "245760 blocks\n",
        sender="root@srv-lx01.client.example (Cron Daemon)",
        extra_headers=("X-Cron-Env: <SHELL=/bin/sh>", "Auto-Submitted: auto-generated"),
    )
    event = one(raw)
    assert (event.family, event.backup_result, event.host, event.product, event.target) == (
        Family.BACKUP,
        BackupResult.SUCCESS,
        "srv-lx01",
        "cpio",
        None,
    )


def test_cpio_cron_error_wins() -> None:
    raw = mail(
        "Cron <root@srv-lx01> /usr/local/sbin/cpio-backup",
        "cpio: /data/db/lock: Cannot open: No such file or directory\n245000 blocks\n",
        sender='"(Cron Daemon)" <root@srv-lx01.client.example>',
    )
    event = one(raw)
    assert (event.backup_result, event.product, event.status) == (
        BackupResult.FAILED,
        "cpio",
        Status.PROBLEM,
    )


def test_tar_cron_only_benign_notice_is_success() -> None:
    raw = mail(
        "Cron <root@nas2> tar czf /mnt/bk/etc.tgz /etc",
        "tar: Removing leading `/' from member names\n",
        sender="root@nas2 (Cron Daemon)",
    )
    event = one(raw)
    assert (event.backup_result, event.host, event.product) == (BackupResult.SUCCESS, "nas2", "tar")


def test_tar_file_changed_is_warning() -> None:
    raw = mail(
        "Cron <root@nas2> /root/backup.sh",
        "tar: /var/log/syslog: file changed as we read it\n",
        sender="root@nas2 (Cron Daemon)",
    )
    assert one(raw).backup_result is BackupResult.WARNING


@pytest.mark.parametrize(
    ("status_line", "result"),
    [
        ("Status: Success!", BackupResult.SUCCESS),
        ("Status: Failed!!!", BackupResult.FAILED),
        ("Statut : Echec", BackupResult.FAILED),
        ("Status: OK", BackupResult.SUCCESS),
    ],
)
def test_status_script_mails(status_line: str, result: BackupResult) -> None:
    body = f"Start date: Sat Nov 21 23:00:00 CET 2026\nHostname: srv-lin7\n{status_line}\n"
    event = one(mail("Sauvegarde tar", body, sender="root@srv-lin7.client.example"))
    assert (event.family, event.backup_result, event.host) == (Family.BACKUP, result, "srv-lin7")


def test_cron_mail_that_is_not_a_backup_is_unknown() -> None:
    raw = mail(
        "Cron <root@web01> apt-get -q update",
        "E: Could not get lock /var/lib/apt/lists",
        sender="root@web01 (Cron Daemon)",
    )
    event = one(raw)
    assert (event.family, event.backup_result, event.host) == (Family.UNKNOWN, None, "web01")


# --------------------------------------------------------------------------- event log


def event_block(index: int, event_id: int, level: str, computer: str, labels: str = "en") -> str:
    if labels == "fr":
        return (
            f"Event[{index}]:\n  Nom du journal: System\n  Source: Microsoft-Windows-NTDS\n"
            f"  Date: 2026-11-22T04:05:06.000\n  ID de l'événement: {event_id}\n"
            f"  Niveau: {level}\n  Ordinateur: {computer}\n  Description: \nÉchec de réplication.\n"
        )
    return (
        f"Event[{index}]:\n  Log Name: System\n  Source: Service Control Manager\n"
        f"  Date: 2026-07-22T04:05:06.000\n  Event ID: {event_id}\n  Task: N/A\n"
        f"  Level: {level}\n  Keyword: Classic\n  User: N/A\n  Computer: {computer}\n"
        f"  Description: \nThe service terminated unexpectedly.\n"
    )


@pytest.mark.parametrize(
    ("level", "status", "severity"),
    [
        ("Erreur", Status.PROBLEM, Severity.MAJOR),
        ("Error", Status.PROBLEM, Severity.MAJOR),
        ("Fehler", Status.PROBLEM, Severity.MAJOR),
        ("Critique", Status.PROBLEM, Severity.CRITICAL),
        ("Critical", Status.PROBLEM, Severity.CRITICAL),
        ("Avertissement", Status.PROBLEM, Severity.WARNING),
        ("Warnung", Status.PROBLEM, Severity.WARNING),
        ("Warning", Status.PROBLEM, Severity.WARNING),
        ("Information", Status.INFO, Severity.INFO),
    ],
)
def test_eventlog_localized_levels(level: str, status: Status, severity: Severity) -> None:
    event = one(mail("Event log SRV-DC01", event_block(0, 7031, level, "SRV-DC01.corp.local")))
    assert (event.family, event.check, event.target, event.host) == (
        Family.EVENTLOG,
        "event",
        "7031",
        "SRV-DC01",
    )
    assert (event.status, event.severity) == (status, severity)
    assert event.occurred_at == datetime(2026, 7, 22, 4, 5, 6, tzinfo=PARIS)
    assert event.occurred_at.utcoffset().total_seconds() == 7200


def test_eventlog_french_labels_and_several_events() -> None:
    body = event_block(0, 1864, "Erreur", "SRV-AD1", labels="fr") + event_block(
        1, 7031, "Avertissement", "SRV-AD2"
    )
    events = parsed(mail("Journal des événements", body)).events
    assert [(e.host, e.target, e.status, e.severity) for e in events] == [
        ("SRV-AD1", "1864", Status.PROBLEM, Severity.MAJOR),
        ("SRV-AD2", "7031", Status.PROBLEM, Severity.WARNING),
    ]


# --------------------------------------------------------------------------- Trend Micro


@pytest.mark.parametrize(
    ("subject", "body", "checks"),
    [
        (
            "Virus detected",
            "Trend Micro detected 3 virus incidents on your computer(s) in "
            "30 minute(s).\nSecurity Server: SRV-AV",
            ["threat"],
        ),
        (
            "Outbreak Defense alert",
            "Worry-Free Business Security: Outbreak Defense has been "
            "activated.\nSecurity Server: SRV-AV",
            ["threat"],
        ),
        (
            "Real-time Scan disabled",
            "Trend Micro Worry-Free: Real-time Scan is disabled on "
            "4 computer(s).\nSecurity Server: SRV-AV",
            ["realtime_scan"],
        ),
        (
            "Pattern out of date",
            "Trend Micro: the virus pattern file is out of date on "
            "2 computer(s).\nSecurity Server: SRV-AV",
            ["pattern_update"],
        ),
        (
            "Notification Trend Micro",
            "Le scan en temps réel est désactivé sur 2 ordinateurs.\n"
            "Le fichier de signatures est obsolète.\nServeur : SRV-AV",
            ["realtime_scan", "pattern_update"],
        ),
        (
            "Unusual system events",
            "Trend Micro detected unusual system events on your network.\nSecurity Server: SRV-AV",
            ["other"],
        ),
    ],
)
def test_trend_micro_variants(subject: str, body: str, checks: list[str]) -> None:
    events = parsed(mail(subject, body, sender="wfbs@client.example")).events
    assert [e.check for e in events] == checks
    assert all(e.family is Family.ANTIVIRUS and e.status is Status.PROBLEM for e in events)
    assert all(e.host == "SRV-AV" for e in events)


def test_trend_micro_incident_count_is_value() -> None:
    event = parsed(
        mail(
            "Virus",
            "Trend Micro detected 7 virus incidents on your computer(s) "
            "in 1 hour(s).\nSecurity Server: SRV-AV",
        )
    ).events[0]
    assert event.value == 7.0


# --------------------------------------------------------------------------- forwards


def test_gmail_forward_of_hp_alert() -> None:
    body = (
        "FYI, see below.\n\n---------- Forwarded message ---------\n"
        "From: SRV-APP7 <ilo-srv-app7@client.example>\nDate: Mon, 23 Nov 2026 06:29:00 +0100\n"
        "Subject: HP AlertMail-101: (CRITICAL) Power Supply #2: Failed\n"
        "To: <it@client.example>\n\n"
        "EVENT (23 Nov 06:20): Power Supply #2 Status has changed to: Failed.\n\nServer: SRV-APP7\n"
    )
    result = parsed(
        mail(
            "Fwd: HP AlertMail-101: (CRITICAL) Power Supply #2: Failed",
            body,
            sender="Jean <jean@client.example>",
        )
    )
    event = result.events[0]
    assert result.parser == "hp"
    assert (event.host, event.check, event.status) == ("SRV-APP7", "power_supply", Status.PROBLEM)


def test_outlook_french_forward_tr_of_dell_alert() -> None:
    body = (
        "Bonjour, une alerte du serveur.\n\n"
        "De : SRV-FIN@client.example\nEnvoyé : lundi 23 novembre 2026 08:00\n"
        "À : support@client.example\nObjet : Dell OMSA pdiskwarn Alert on SRV-FIN\n\n"
        "Physical disk warning was reported on SRV-FIN.\n"
    )
    event = one(mail("TR: Dell OMSA pdiskwarn Alert on SRV-FIN", body))
    assert (event.product, event.host, event.check, event.severity) == (
        "dell-omsa",
        "SRV-FIN",
        "physical_disk",
        Severity.WARNING,
    )


def test_forward_with_changed_subject_uses_inner_subject() -> None:
    body = (
        "-------- Message transféré --------\nSujet : ignored\n"
        "Date : Sun, 22 Nov 2026 07:22:00 +0100\nDe : backup@client.example\n"
        "Objet : Failed Backup on SRV-DC09\n\n"
        "Error Message: The backup storage location is not available.\n"
    )
    event = one(mail("Fw: a regarder stp", body))
    assert (event.backup_result, event.host) == (BackupResult.FAILED, "SRV-DC09")


def test_reply_with_quoted_veeam_report() -> None:
    body = (
        "Je regarde.\n\n> -----Original Message-----\n> From: veeam@client.example\n"
        "> Sent: Monday, November 23, 2026 7:54 PM\n"
        "> Subject: [Warning] Daily VMs (SRV-HV1) 3 of 4 VMs processed\n>\n"
        "> Job: Daily VMs\n> Success: 3 Warning: 1 Error: 0\n"
    )
    event = one(mail("RE: [Warning] Daily VMs (SRV-HV1) 3 of 4 VMs processed", body))
    assert (event.product, event.backup_result, event.target, event.host) == (
        "veeam",
        BackupResult.WARNING,
        "Daily VMs",
        "SRV-HV1",
    )


def test_forward_as_attachment_message_rfc822() -> None:
    inner = mail(
        "Arcserve Backup: Job Incomplete - Job 12 (Fichiers) on SRV-INNER",
        "Description: Fichiers\nServer: SRV-INNER\nJob Incomplete\n",
        sender="arcserve@client.example",
    )
    raw = (
        b"From: tech@client.example\r\nSubject: Fwd: backup\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n--XX\r\n'
        b"Content-Type: text/plain\r\n\r\nSee attached.\r\n--XX\r\n"
        b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
        + inner
        + b"\r\n--XX--\r\n"
    )
    event = one(raw)
    assert (event.backup_result, event.host, event.target) == (
        BackupResult.INCOMPLETE,
        "SRV-INNER",
        "Fichiers",
    )


# --------------------------------------------------------------------------- encodings


def test_html_only_body_with_script_is_extracted_without_script() -> None:
    html = (
        "<html><head><title>report</title><script>var s = 'EVIL-SCRIPT Backup Result: 1';"
        "</script><style>td{color:red}</style></head><body>"
        + wsb_html("SRV-H1", "0").split("<body>", 1)[1]
    )
    result = parsed(
        mail("Successful Backup on SRV-H1", html, ctype="text/html", cte="quoted-printable")
    )
    assert "EVIL-SCRIPT" not in result.envelope.text
    assert "color:red" not in result.envelope.text
    assert result.envelope.html is not None and "EVIL-SCRIPT" in result.envelope.html
    event = result.events[0]
    assert event.backup_result is BackupResult.SUCCESS
    assert "EVIL" not in event.summary


def test_base64_body_probe() -> None:
    body = (
        "Host: SRV-B64\nCheck: disk_free\nTarget: C:\nStatus: PROBLEM\nValue: 4,5\nThreshold: 10\n"
    )
    event = one(mail("[VIGIE] SRV-B64 PROBLEM disk_free: low", body, cte="base64"))
    assert (event.family, event.host, event.target, event.value, event.threshold) == (
        Family.DISK_SPACE,
        "SRV-B64",
        "C:",
        4.5,
        10.0,
    )


def test_wrong_declared_charset_falls_back() -> None:
    body = "Job:\n1\nServer: SRV-W\nBeschreibung: Täglich.\nVorgang Sichern erfolgreich\n"
    raw = mail("ARCserve Backup Job 1 - SRV-W", body.encode("latin-1"), charset="utf-8")
    result = parsed(raw)
    assert "Täglich" in result.envelope.text
    assert result.events[0].backup_result is BackupResult.SUCCESS


def test_mislabelled_latin1_declared_but_utf8_bytes() -> None:
    raw = mail(
        "NTBackup SRV-U : rapport",
        "Opération de sauvegarde terminée.".encode(),
        charset="iso-8859-1",
    )
    assert "Opération" in parsed(raw).envelope.text


def test_rfc2047_sender_name_and_8bit_subject() -> None:
    raw = mail(
        "Sauvegarde réussie SRV-8".encode(),
        "ok",
        sender="=?utf-8?q?S=C3=A9bastien?= <Seb@Client.Example>",
    )
    envelope = parsed(raw).envelope
    assert envelope.sender == "seb@client.example"
    assert envelope.sender_name == "Sébastien"
    assert envelope.sender_domain == "client.example"
    assert envelope.subject == "Sauvegarde réussie SRV-8"


# --------------------------------------------------------------------------- probe format


@pytest.mark.parametrize(
    ("check", "family"),
    [
        ("cpu", Family.PERFORMANCE),
        ("disk_time", Family.PERFORMANCE),
        ("disk_queue", Family.PERFORMANCE),
        ("pagefile", Family.PERFORMANCE),
        ("committed_bytes", Family.PERFORMANCE),
        ("disk_free", Family.DISK_SPACE),
        ("event", Family.EVENTLOG),
        ("service", Family.SERVICE),
        ("heartbeat", Family.HEARTBEAT),
        ("latency", Family.LINK),
        ("vpn", Family.LINK),
        ("raid", Family.HARDWARE),
        ("power_supply", Family.HARDWARE),
        ("threat", Family.ANTIVIRUS),
        ("pattern_update", Family.ANTIVIRUS),
    ],
)
def test_probe_check_families(check: str, family: Family) -> None:
    body = f"Host: SRV-P\nCheck: {check}\nTarget: T1\nStatus: PROBLEM\nSeverity: major\n"
    event = one(mail(f"[VIGIE] SRV-P PROBLEM {check}: x", body, sender="probe@c.example"))
    assert (event.family, event.check, event.status, event.severity) == (
        family,
        check,
        Status.PROBLEM,
        Severity.MAJOR,
    )


def test_probe_extra_headers_and_bad_value() -> None:
    body = (
        "Host: SRV-P.corp.local\nCheck: cpu\nStatus: PROBLEM\nValue: ninety\nThreshold: 95\n"
        "Duration: PT20M\nOccurred-At: 2026-11-27T14:03:00\nSite: Lyon\nRunbook: RB-12\n"
    )
    event = one(mail("[VIGIE] SRV-P PROBLEM cpu: high", body))
    assert event.host == "SRV-P"
    assert event.value is None and event.threshold == 95.0
    assert "ninety" in event.extra["parse_errors"]
    assert event.extra["Site"] == "Lyon" and event.extra["Runbook"] == "RB-12"
    assert event.extra["Duration"] == "PT20M"
    assert event.occurred_at == datetime(2026, 11, 27, 14, 3, tzinfo=PARIS)


def test_probe_heartbeat_ok_is_info_and_recovery() -> None:
    beat = one(
        mail("[VIGIE] SRV-P OK heartbeat: alive", "Host: SRV-P\nCheck: heartbeat\nStatus: OK\n")
    )
    assert (beat.family, beat.status, beat.severity) == (
        Family.HEARTBEAT,
        Status.INFO,
        Severity.INFO,
    )
    back = one(
        mail(
            "[VIGIE] SRV-P RECOVERY vpn: up",
            "Host: SRV-P\nCheck: vpn\nTarget: SITE-B\nStatus: RECOVERY\n",
        )
    )
    assert (back.status, back.target) == (Status.RECOVERY, "SITE-B")


def test_probe_subject_only_still_parses() -> None:
    event = one(mail("[VIGIE] SRV-S PROBLEM service: service Spooler stopped", ""))
    assert (event.host, event.check, event.family, event.target) == (
        "SRV-S",
        "service",
        Family.SERVICE,
        None,
    )


def test_probe_unknown_check_is_kept_but_flagged() -> None:
    event = one(mail("probe", "Host: SRV-X\nCheck: ups_battery\nStatus: PROBLEM\n"))
    assert (event.family, event.check) == (Family.UNKNOWN, "ups_battery")
    assert "ups_battery" in event.extra["parse_errors"]


# --------------------------------------------------------------------------- fallback


def test_unknown_message_is_kept_for_triage() -> None:
    result = parsed(mail("Réunion jeudi", "On se voit jeudi ?", sender="boss@client.example"))
    assert result.parser == "unknown"
    event = result.events[0]
    assert (event.family, event.status, event.check, event.host) == (
        Family.UNKNOWN,
        Status.INFO,
        "unknown",
        None,
    )
    assert event.summary == "Réunion jeudi"


# --------------------------------------------------------------------------- look-alikes


def test_newsletter_about_successful_backups_is_not_a_backup() -> None:
    raw = mail("Tips for a successful backup strategy", "Read our blog.", sender="news@v.example")
    assert one(raw).family is Family.UNKNOWN


def test_bare_alert_mail_subject_is_not_hp() -> None:
    assert one(mail("Alert mail: disk full", "see attached")).family is Family.UNKNOWN


def test_bounce_does_not_parse_the_returned_original() -> None:
    inner = mail("Dell OMSA fanfail Alert on SRV-BOUNCE", "Fan failure was reported.")
    raw = (
        b"From: MAILER-DAEMON@desk.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        b'boundary="R"\r\n\r\n--R\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n'
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; a@b\r\nAction: failed\r\n\r\n"
        b"--R\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--R--\r\n"
    )
    assert one(raw).family is Family.UNKNOWN


def test_eventlog_fields_without_log_name_header() -> None:
    body = (
        "Source: Microsoft-Windows-Kernel-Power\nEvent ID: 41\nLevel: Critique\nComputer: SRV-K\n"
    )
    event = one(mail("Alerte journal", body))
    assert (event.family, event.target, event.severity, event.host) == (
        Family.EVENTLOG,
        "41",
        Severity.CRITICAL,
        "SRV-K",
    )


def test_ntbackup_skipped_file_is_warning_not_failure() -> None:
    body = (
        "Backup Status\nOperation: Backup\n"
        'Warning: Unable to open "C:\\pagefile.sys" - skipped.\n'
        "Reason: The process cannot access the file because it is being used by another process."
        "\nBackup completed on 11/21/2026 at 11:42 PM.\n"
    )
    assert one(mail("NTBackup SRV-OLD", body)).backup_result is BackupResult.WARNING


def test_status_unsuccessful_is_failure_and_rsync_stats_are_success() -> None:
    failed = one(
        mail("Backup status", "Hostname: srv-l2\nStatus: Unsuccessful\n", sender="root@srv-l2.c")
    )
    assert failed.backup_result is BackupResult.FAILED
    rsync = one(
        mail(
            "Cron <root@bk1> rsync -a /srv /mnt/backup",
            "sent 12,345 bytes  received 678 bytes\ntotal size is 999  speedup is 3.00\n",
            sender="root@bk1 (Cron Daemon)",
        )
    )
    assert (rsync.backup_result, rsync.host) == (BackupResult.SUCCESS, "bk1")


def test_trend_components_out_of_date() -> None:
    body = "The following components are out of date: Virus Pattern File\nSecurity Server: SRV-AV2"
    event = one(mail("Trend Micro notification", body, sender="wfbs@c.example"))
    assert (event.check, event.host, event.status) == ("pattern_update", "SRV-AV2", Status.PROBLEM)
