"""French first, English available: a dictionary keyed by the French text itself.

Templates write ``_("File d'attente")``: the French reads in place, and English is a lookup
(``EN``) that falls back to the French when a string has no translation yet (a test lists
the strings of every template that lack one). The state and criticality labels in French
are the case workflow's own (``workflows.case_machine``), so the console never renames what
the workflow calls a state.
"""

from __future__ import annotations

import re

from messages.cases import CRITICALITY_LABELS, STATE_LABELS

LANGS = ("fr", "en")
DEFAULT_LANG = "fr"

STATE_EN: dict[str, str] = {
    "new": "new",
    "acknowledged": "acknowledged (no impact)",
    "classified": "classified",
    "client_instructed": "client instructed",
    "demande_registered": "request registered",
    "client_notified": "client notified",
    "client_called": "client called",
    "l1_diagnosis": "L1 diagnosis running",
    "l2_escalated": "escalated to level 2",
    "resolved": "resolved",
    "closed": "closed",
    "reopened": "reopened",
}
CRITICALITY_EN: dict[str, str] = {
    "no_impact": "no impact",
    "minor": "minor/moderate",
    "significant": "significant",
    "major": "major/extended",
}
ROLE_LABELS: dict[str, tuple[str, str]] = {
    "technician": ("technicien", "technician"),
    "level2": ("niveau 2", "level 2"),
    "manager": ("responsable", "manager"),
    "planner": ("planificateur", "planner"),
    "admin": ("administrateur", "administrator"),
    "client": ("client (lecture seule)", "client (read only)"),
    "consultant": ("consultant (visites)", "consultant (visits)"),
}
FAMILY_LABELS: dict[str, tuple[str, str]] = {
    "hardware": ("matériel", "hardware"),
    "backup": ("sauvegarde", "backup"),
    "performance": ("performances", "performance"),
    "disk_space": ("espace disque", "disk space"),
    "eventlog": ("journal d'événements", "event log"),
    "service": ("services", "services"),
    "heartbeat": ("battement horaire", "heartbeat"),
    "link": ("liaison multi-site", "site link"),
    "antivirus": ("antivirus", "antivirus"),
    "unknown": ("inconnu", "unknown"),
    "visit": ("visite sur site", "on-site visit"),
}
ACTION_LABELS: dict[str, tuple[str, str]] = {
    "open": ("ouverture", "opened"),
    "repeat": ("répétition", "repeat"),
    "late_arrival": ("arrivée tardive", "late arrival"),
    "recovery": ("rétablissement", "recovery"),
    "assign": ("attribution", "assignment"),
    "note": ("note", "note"),
    "add_note": ("note", "note"),
    "classify": ("classification", "classification"),
    "record_contact": ("contact client", "client contact"),
    "communication": ("communication", "communication"),
    "register_demande": ("demande enregistrée", "request registered"),
    "start_l1": ("début du diagnostic N1", "L1 diagnosis started"),
    "escalate_l2": ("escalade niveau 2", "escalated to level 2"),
    "resolve": ("résolution", "resolution"),
    "close": ("clôture", "closure"),
    "reopen": ("réouverture", "reopening"),
    "send_instructions": ("consignes envoyées au client", "instructions sent to the client"),
    "notify_level2": ("niveau 2 prévenu", "level 2 notified"),
    "client_reply": ("réponse du client", "client reply"),
}
CHANNEL_LABELS: dict[str, tuple[str, str]] = {
    "phone": ("téléphone", "phone"),
    "email": ("e-mail", "e-mail"),
    "sms": ("SMS", "SMS"),
}
OUTCOME_LABELS: dict[str, tuple[str, str]] = {
    "reached": ("joint", "reached"),
    "sent": ("envoyé", "sent"),
    "no_answer": ("sans réponse", "no answer"),
    "busy": ("occupé", "busy"),
    "voicemail": ("messagerie", "voicemail"),
    "failed": ("échec", "failed"),
}
FIGURE_LABELS: dict[str, tuple[str, str]] = {
    "time_to_triage": ("Délai de classification", "Time to triage"),
    "time_to_first_contact": ("Délai du premier contact client", "Time to first client contact"),
    "time_to_demande": ("Délai d'enregistrement de la demande", "Time to registered request"),
    "l1_duration": ("Durée du diagnostic N1", "L1 diagnosis duration"),
    "time_to_resolution": ("Délai de résolution", "Time to resolution"),
}

COMM_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "pending": ("en attente", "pending"),
    "sending": ("en cours d'envoi", "sending"),
    "sent": ("envoyé", "sent"),
    "delivered": ("remis", "delivered"),
    "confirmed": ("confirmé par le client", "confirmed by the client"),
    "answered": ("décroché", "answered"),
    "queued": ("transmis à l'opérateur", "handed to the carrier"),
    "no_answer": ("sans réponse", "no answer"),
    "no_confirmation": ("décroché sans confirmation", "answered, not confirmed"),
    "busy": ("occupé", "busy"),
    "voicemail": ("messagerie", "voicemail"),
    "failed": ("échec", "failed"),
    "unknown": ("à vérifier (envoi interrompu)", "to check (sending interrupted)"),
    "dry_run": ("simulé (rien n'est parti)", "simulated (nothing left)"),
    "no_recipient": ("aucun destinataire", "no recipient"),
    "problem": ("problème", "problem"),
}
COMM_STEP_LABELS: dict[str, tuple[str, str]] = {
    "instructions": ("consignes au client", "instructions to the client"),
    "demande_registered": ("demande prise en charge", "request taken in charge"),
    "l1_call": ("appel pour le diagnostic N1", "call for the L1 diagnosis"),
    "l1_call_fallback": (
        "mail faute d'avoir joint le client",
        "mail as the client was not reached",
    ),
    "l2_transfer": ("passage au niveau 2 (client)", "handover to level 2 (client)"),
    "l2_handover": ("passage au niveau 2 (équipe)", "handover to level 2 (team)"),
    "resolution": ("résolution", "resolution"),
    "backup_report": ("rapport des sauvegardes", "backup report"),
}
TRANSPORT_LABELS: dict[str, tuple[str, str]] = {
    "smtp": ("relais SMTP", "SMTP relay"),
    "capture": ("boîte de capture locale", "local capture mailbox"),
    "twilio": ("Twilio", "Twilio"),
    "dry-run": ("simulation", "simulation"),
}
SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "critical": ("critique", "critical"),
    "major": ("majeure", "major"),
    "minor": ("mineure", "minor"),
    "warning": ("avertissement", "warning"),
    "info": ("information", "information"),
}
EVENT_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "problem": ("problème", "problem"),
    "recovery": ("rétablissement", "recovery"),
    "info": ("information", "information"),
}
CONTACT_ROLE_LABELS: dict[str, tuple[str, str]] = {
    "primary": ("contact principal", "main contact"),
    "backup": ("suppléant", "deputy"),
    "after_hours": ("astreinte (hors heures ouvrées)", "on call (out of hours)"),
}
HEADER_LABELS: dict[str, tuple[str, str]] = {
    "From": ("De", "From"),
    "To": ("À", "To"),
    "Cc": ("Copie", "Cc"),
    "Reply-To": ("Répondre à", "Reply to"),
    "Subject": ("Objet", "Subject"),
    "Date": ("Date", "Date"),
    "Message-ID": ("Identifiant du message", "Message ID"),
}
BACKUP_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "success": ("succès", "success"),
    "warning": ("avertissement", "warning"),
    "incomplete": ("incomplète", "incomplete"),
    "cancelled": ("annulée", "cancelled"),
    "failed": ("échec", "failed"),
    "not_received": ("non reçue", "not received"),
    "pending": ("en attente", "pending"),
    "none": ("non prévue", "not scheduled"),
    "unknown_job": ("avant le suivi", "before tracking"),
}
INTAKE_LABELS: dict[str, tuple[str, str]] = {
    "smtp": ("mail (SMTP)", "mail (SMTP)"),
    "webhook": ("webhook", "webhook"),
    "alertmanager": ("Alertmanager", "Alertmanager"),
}
EXPECTATION_KIND_LABELS: dict[str, tuple[str, str]] = {
    "heartbeat": ("battement horaire", "heartbeat"),
    "disk_report": ("rapport disque quotidien", "daily disk report"),
    "backup_job": ("sauvegarde", "backup"),
    "client": ("client", "client"),
    "sender": ("expéditeur", "sender"),
    "site": ("site", "site"),
    "server": ("serveur", "server"),
    "contact": ("contact", "contact"),
}
EXPECTATION_STATE_LABELS: dict[str, tuple[str, str]] = {
    "ok": ("à l'heure", "on time"),
    "proposed": ("proposée (à confirmer)", "proposed (to confirm)"),
    "missing": ("absente", "missing"),
    "disabled": ("désactivée", "disabled"),
    "pending": ("en attente du premier envoi", "waiting for the first report"),
    "muted": ("suspendue (cas ouvert)", "muted (case open)"),
    "silenced": ("sous silence", "silenced"),
}
SIGNIN_LABELS: dict[str, tuple[str, str]] = {
    "ok": ("connecté", "signed in"),
    "signed_out": ("déconnecté", "signed out"),
    "bad_password": ("mot de passe incorrect", "wrong password"),
    "unknown_user": ("utilisateur inconnu", "unknown user"),
    "inactive": ("compte désactivé", "account disabled"),
    "throttled": ("trop de tentatives", "too many attempts"),
    "csrf": ("formulaire expiré", "form expired"),
}
# What the ledger's data fields are called on a page (never their key).
DATA_KEY_LABELS: dict[str, tuple[str, str]] = {
    "criticality": ("criticité", "criticality"),
    "previous": ("précédente", "previous"),
    "channel": ("canal", "channel"),
    "outcome": ("résultat", "outcome"),
    "text": ("texte", "text"),
    "report": ("compte rendu", "report"),
    "assignee": ("attribué à", "assigned to"),
    "demande_ref": ("demande", "request"),
    "by": ("par", "by"),
    "event_id": ("événement", "event"),
    "severity": ("sévérité", "severity"),
    "status": ("statut", "status"),
    "step": ("étape", "step"),
    "communication_id": ("communication", "communication"),
    "recipient": ("destinataire", "recipient"),
    "sender": ("expéditeur", "sender"),
    "reason": ("motif", "reason"),
    "server_id": ("serveur", "server"),
}
# Actors that are not people.
ACTOR_LABELS: dict[str, tuple[str, str]] = {
    "system": ("Vigie (automatique)", "Vigie (automatic)"),
    "timer": ("échéance (automatique)", "deadline (automatic)"),
}

# English for the French texts of the templates and messages (the French is the key).
EN: dict[str, str] = {
    # navigation and common words
    "File d'attente": "Queue",
    "Non rattachés": "Unmatched",
    "Planification": "Planning",
    "Administration": "Administration",
    "Mes cas": "My cases",
    "Se déconnecter": "Sign out",
    "Se connecter": "Sign in",
    "Connexion": "Sign in",
    "Identifiant": "User name",
    "Mot de passe": "Password",
    "Identifiant ou mot de passe incorrect.": "Wrong user name or password.",
    "Trop de tentatives : réessayez dans quelques minutes.": (
        "Too many attempts: try again in a few minutes."
    ),
    "Formulaire expiré : rechargez la page et recommencez.": (
        "Form expired: reload the page and try again."
    ),
    "Accès refusé": "Access denied",
    "Introuvable": "Not found",
    "Erreur": "Error",
    "Retour à l'accueil": "Back to the home page",
    "oui": "yes",
    "non": "no",
    "Total": "Total",
    "Tous": "All",
    "tous": "all",
    "toutes": "all",
    "ouverts": "open",
    "page": "page",
    "précédente": "previous",
    "suivante": "next",
    "Filtrer": "Filter",
    "Afficher": "Show",
    "Ajouter": "Add",
    "Créer": "Create",
    "Enregistrer": "Save",
    "Supprimer": "Delete",
    "Supprimer ?": "Delete?",
    "Date": "Date",
    "Par": "By",
    "Le": "On",
    "De": "From",
    "Vers": "To",
    "Du": "From",
    "au": "to",
    "Nom": "Name",
    "Code": "Code",
    "Type": "Type",
    "Rôle": "Role",
    "rôle": "role",
    "Version": "Version",
    "version": "version",
    "Note": "Note",
    "Notes": "Notes",
    "Statut": "Status",
    "Historique": "History",
    # queue
    "Client": "Client",
    "client": "client",
    "Criticité": "Criticality",
    "criticité": "criticality",
    "État": "State",
    "Source": "Source",
    "Réf.": "Ref.",
    "Serveur": "Server",
    "Alerte": "Alert",
    "Ouvert": "Opened",
    "Répét.": "Rep.",
    "Attribué à": "Assigned to",
    "rétabli": "recovered",
    "Aucun cas ouvert.": "No open case.",
    "La liste se met à jour toute seule toutes les 5 secondes.": (
        "The list refreshes itself every 5 seconds."
    ),
    # case page
    "Résumé": "Summary",
    "Dernière alerte": "Last alert",
    "Capteur du contrat": "Contract sensor",
    "répétitions": "repeats",
    "Demande": "Request",
    "niveau": "level",
    "Échéance N1": "L1 deadline",
    "physique": "physical",
    "virtuel": "virtual",
    "Étapes suivantes": "Next steps",
    "contrat": "contract",
    "Aucune étape proposée dans cet état.": "No step proposed in this state.",
    "Les actions reviennent quand le workflow répond.": (
        "Actions come back when the workflow answers."
    ),
    "Autres actions": "Other actions",
    "Ajouter la note": "Add the note",
    "M'attribuer le cas": "Assign the case to me",
    "Reclasser": "Reclassify",
    "Enregistrer un contact": "Record a contact",
    "Résoudre": "Resolve",
    "Lecture seule pour votre rôle.": "Read only for your role.",
    "workflow injoignable : affichage depuis le registre": (
        "workflow unreachable: shown from the ledger"
    ),
    "Temporal non configuré : affichage depuis le registre": (
        "Temporal not configured: shown from the ledger"
    ),
    "Délais SLA": "SLA timings",
    "dérivation détaillée": "detailed derivation",
    "Chronologie": "Timeline",
    "Rien encore.": "Nothing yet.",
    "Aucune note.": "No note.",
    "Contacts du client": "Client contacts",
    "Aucun contact enregistré.": "No contact recorded.",
    "Communications envoyées": "Communications sent",
    "Canal": "Channel",
    "Destinataire": "Recipient",
    "Objet": "Subject",
    "Aucune communication.": "No communication.",
    "Événements liés": "Linked events",
    "Aucun événement lié.": "No linked event.",
    "Seuls les plus récents sont affichés.": "Only the most recent are shown.",
    "Partie HTML (nettoyée)": "HTML part (sanitized)",
    "Message brut": "Raw message",
    "(tronqué)": "(truncated)",
    "Motif": "Reason",
    "Résultat": "Outcome",
    "Compte rendu": "Report",
    "Réf. externe (facultatif)": "External ref. (optional)",
    "Indicateur": "Figure",
    "Valeur (ouvrée)": "Value (business time)",
    "Objectif": "Target",
    "hors délai": "breached",
    "respecté": "met",
    "en cours ou sans objet": "running or not applicable",
    "Dérivation depuis le registre": "Derivation from the ledger",
    "Escaladé en niveau 2": "Escalated to level 2",
    "Réouvertures": "Reopenings",
    "politique": "policy",
    "Pas encore de registre pour ce cas.": "No ledger for this case yet.",
    "dérivation des délais": "derivation of the timings",
    "Registre du cas": "Case ledger",
    "Horodatage": "Timestamp",
    "Action": "Action",
    "Données": "Data",
    "Action enregistrée.": "Action recorded.",
    "Action refusée": "Action refused",
    "Événement": "Event",
    "Reçu": "Received",
    "Hôte": "Host",
    "non rattaché": "unmatched",
    "Cas": "Case",
    # next steps of a case (workflows.case_machine.NEXT_STEPS: the workflow's own French)
    "Fixer la criticité selon l'impact sur l'activité du client": (
        "Set the criticality from the impact on the client's business"
    ),
    "Ajuster si besoin la console de supervision (seuil, silence), puis résoudre ; aucune "
    "communication client": (
        "Adjust the monitoring console if needed (threshold, silence), then resolve; no client "
        "communication"
    ),
    "Envoyer au client, par mail ou téléphone, les consignes de résolution ou de "
    "contournement": (
        "Send the client, by mail or phone, the instructions to fix or work around the problem"
    ),
    "Envoyer les consignes depuis Vigie (mail, SMS ou appel automatisé), avec accusé de "
    "réception": (
        "Send the instructions from Vigie (mail, SMS or automated call), with acknowledgement"
    ),
    "Enregistrer une demande au support": "Register a request with the support desk",
    "Informer le client par mail de l'enregistrement de la demande et de sa prise en charge "
    "par le support": (
        "Tell the client by mail that the request is registered and taken in charge by support"
    ),
    "Appeler le contact principal du client pour organiser le diagnostic N1": (
        "Call the client's main contact to set up the L1 diagnosis"
    ),
    "Résoudre une fois les consignes appliquées par le client": (
        "Resolve once the client has applied the instructions"
    ),
    "Résoudre quand le support a traité la demande": (
        "Resolve when support has handled the request"
    ),
    "Démarrer le diagnostic de niveau 1 (moins d'une heure)": (
        "Start the level-1 diagnosis (under one hour)"
    ),
    "Résoudre si le diagnostic N1 aboutit avant l'échéance": (
        "Resolve if the L1 diagnosis succeeds before the deadline"
    ),
    "Transférer la demande au niveau 2 (automatique à l'échéance du diagnostic N1)": (
        "Transfer the request to level 2 (automatic at the L1 diagnosis deadline)"
    ),
    "Résoudre quand le niveau 2 a terminé le dépannage": (
        "Resolve when level 2 has finished the repair"
    ),
    "Clôturer le cas (automatique après le délai sans nouvelle alerte)": (
        "Close the case (automatic after the delay with no new alert)"
    ),
    "Rouvrir le cas si le problème persiste": "Reopen the case if the problem persists",
    "Confirmer le rétablissement et résoudre": "Confirm the recovery and resolve",
    # unmatched
    "Messages non rattachés ou inconnus": "Unmatched or unknown messages",
    "Rattachez l'événement à un serveur (et apprenez l'alias ou l'expéditeur pour les "
    "prochains), ou écartez-le.": (
        "Attach the event to a server (and teach the alias or the sender for the next ones), "
        "or dismiss it."
    ),
    "Expéditeur": "Sender",
    "Rattacher": "Attach",
    "serveur…": "server…",
    "apprendre l'alias": "teach the alias",
    "apprendre l'expéditeur": "teach the sender",
    "Écarter": "Dismiss",
    "Rien à trier.": "Nothing to sort.",
    "Message écarté.": "Message dismissed.",
    "client de l'expéditeur": "the sender's client",
    "Autres clients": "Other clients",
    "Serveur créé depuis ce message": "Server created from this message",
    "Rattaché par": "Attached by",
    "par": "by",
    "Créer ce serveur": "Create this server",
    "Créer et rattacher": "Create and attach",
    "client…": "client…",
    # SLA
    "Regrouper par": "Group by",
    "technicien": "technician",
    "mois": "month",
    "semaine": "week",
    "Export CSV": "CSV export",
    "CSV par cas": "CSV per case",
    "Export PDF": "PDF export",
    "Durées en heures ouvrées : médiane / 90e centile des cas mesurés. Chaque nombre mène aux "
    "cas qui le composent ; chaque cas montre sa dérivation depuis le registre.": (
        "Durations in business hours: median / 90th percentile of the measured cases. Every "
        "number leads to the cases behind it; every case shows its derivation from the ledger."
    ),
    "Groupe": "Group",
    "Les indicateurs sont en cours de recalcul depuis le registre : les chiffres ci-dessous "
    "peuvent être incomplets ; rechargez la page dans un instant.": (
        "The figures are being recomputed from the ledger: those below may be incomplete; "
        "reload the page in a moment."
    ),
    "Escaladés N2": "Escalated to L2",
    "Cas hors délai": "Cases in breach",
    "par semaine": "per week",
    "par mois": "per month",
    "cas": "cases",
    "SLA": "SLA",
    "Cas derrière le chiffre": "Cases behind the number",
    "Chaque case montre le résultat reçu et son heure, avec un lien vers le cas ou le message ; "
    "une case vide : la tâche n'était pas encore connue ce jour-là.": (
        "Each cell shows the result received and its time, with a link to the case or the "
        "message; an empty cell: the job was not known yet that day."
    ),
    "proposée, à confirmer": "proposed, to confirm",
    "résultats": "results",
    "valeurs de l'environnement": "values from the environment",
    "n°": "no.",
    "Preuve": "Evidence",
    "Message": "Message",
    "médiane / p90": "median / p90",
    "Période": "Period",
    "du": "from",
    "Édité le": "Printed on",
    "mesure": "measure",
    "retour à la vue SLA": "back to the SLA view",
    "Technicien": "Technician",
    "Dérivation": "Derivation",
    "depuis le registre": "from the ledger",
    "Aucun cas.": "No case.",
    # planning
    "Planification des visites": "Visit planning",
    "Visites préventives dues par an (contrat 3.2.4) : deux, plus une par serveur au-delà du "
    "premier. La prise de rendez-vous et les rapports de visite arrivent avec une prochaine "
    "évolution.": (
        "Preventive visits owed per year (contract 3.2.4): two, plus one per server beyond the "
        "first. Scheduling and visit reports come with a later release."
    ),
    "Serveurs": "Servers",
    "Visites dues par an": "Visits owed per year",
    # portal
    "Vos cas en cours": "Your open cases",
    "Aucun cas en cours.": "No open case.",
    "Rapports de visite et document technique": "Visit reports and technical document",
    "Suivi": "Follow-up",
    "Messages qui vous ont été adressés": "Messages sent to you",
    "Aucun.": "None.",
    "Retour à mes cas": "Back to my cases",
    "Aucun rapport de visite ni document technique n'est encore disponible en ligne. Votre "
    "interlocuteur peut vous les transmettre sur demande.": (
        "No visit report or technical document is available online yet. Your contact can send "
        "them to you on request."
    ),
    # administration
    "Clients": "Clients",
    "Utilisateurs": "Users",
    "Jetons d'API": "API tokens",
    "Politiques": "Policies",
    "Attendus et silences": "Expectations and silences",
    "Import CSV": "CSV import",
    "Connexions": "Sign-ins",
    "clients": "clients",
    "serveurs": "servers",
    "contacts": "contacts",
    "sauvegardes attendues": "expected backups",
    "utilisateurs": "users",
    "Actif": "Active",
    "Nouveau client": "New client",
    "IP fixes": "Fixed IPs",
    "Expéditeurs": "Senders",
    "Sites": "Sites",
    "calendrier": "calendar",
    "Alias": "Aliases",
    "alias": "alias",
    "Dernier battement": "Last heartbeat",
    "nom d'hôte": "host name",
    "nom affiché": "display name",
    "site…": "site…",
    "Contacts": "Contacts",
    "Rang": "Rank",
    "E-mail": "E-mail",
    "Téléphone": "Phone",
    "Sauvegardes attendues": "Expected backups",
    "Travail": "Job",
    "Horaire": "Schedule",
    "Produit": "Product",
    "Délai de grâce (min)": "Grace (min)",
    "travail (facultatif)": "job (optional)",
    "Nouveau mot de passe": "New password",
    "Nouvel utilisateur": "New user",
    "Client (rôle client)": "Client (client role)",
    "Nouveau jeton (affiché une seule fois) :": "New token (shown once):",
    "Utilisation : en-tête « Authorization: Bearer … »": ('Use: header "Authorization: Bearer …"'),
    "Utilisateur": "User",
    "Début": "Prefix",
    "Créé": "Created",
    "Dernier usage": "Last used",
    "révoqué": "revoked",
    "actif": "active",
    "Révoquer": "Revoke",
    "Révoquer ce jeton ?": "Revoke this token?",
    "Nouveau jeton": "New token",
    "Agit en tant que": "Acts as",
    "Tentatives de connexion": "Sign-in attempts",
    "Adresse": "Address",
    "Navigateur": "Browser",
    "Verrouillages (limites de connexion)": "Lock-outs (sign-in limits)",
    "Début du verrouillage": "Locked at",
    "Jusqu'à": "Until",
    "Portée": "Scope",
    "Sujet": "Subject",
    "Échecs": "Failures",
    "Durée (s)": "Length (s)",
    "en cours": "in force",
    "Aucun verrouillage.": "No lock-out.",
    "En vigueur": "In effect",
    "heures ouvrées": "business hours",
    "diagnostic N1": "L1 diagnosis",
    "clôture automatique après": "automatic closure after",
    "Version « environnement » : les valeurs des variables d'environnement "
    "(VIGIE_BUSINESS_START…). Une nouvelle version recalcule les indicateurs SLA.": (
        '"Environment" version: the values of the environment variables '
        "(VIGIE_BUSINESS_START…). A new version recomputes the SLA figures."
    ),
    "environnement": "environment",
    "Chaque nouveau cas est ouvert avec la version en vigueur (heures ouvrées, échéance N1, "
    "clôture automatique) et la garde jusqu'à sa clôture.": (
        "Each new case opens under the version in effect (business hours, L1 deadline, "
        "automatic closure) and keeps it until it closes."
    ),
    "Sauvegardes": "Backups",
    "Rapport quotidien des sauvegardes": "Daily backup report",
    "Chaque tâche attendue, jour par jour : échec, incomplète, annulée ou non reçue ouvrent un "
    "cas (contrat 3.2.2).": (
        "Each expected job, day by day: failed, incomplete, cancelled or not received open a "
        "case (contract 3.2.2)."
    ),
    "Semaine précédente": "Previous week",
    "Semaine suivante": "Next week",
    "Tâche": "Job",
    "Aucune sauvegarde attendue.": "No backup expected.",
    "Ouverture": "Opening",
    "Fermeture": "Closing",
    "Durée du diagnostic N1 (minutes ouvrées)": "L1 diagnosis length (business minutes)",
    "Clôture automatique (heures)": "Automatic closure (hours)",
    "Enregistrer une nouvelle version": "Save a new version",
    "Heures": "Hours",
    "Clôture auto": "Auto close",
    "Battement horaire des serveurs": "Servers' hourly heartbeat",
    "Les sauvegardes attendues se modifient sur la fiche de chaque client.": (
        "Expected backups are edited on each client's page."
    ),
    "Silences": "Silences",
    "Sources attendues (battement horaire, rapport disque)": (
        "Expected sources (hourly heartbeat, disk report)"
    ),
    "Dernier signe de vie": "Last seen",
    "Prochaine échéance": "Next due",
    "Confirmer": "Confirm",
    "Réactiver": "Enable",
    "Désactiver": "Disable",
    "Aucune source attendue.": "No expected source.",
    "Créer les attentes du contrat pour ce client": "Create the contract's expectations",
    "Confirmée": "Confirmed",
    "Contrôle": "Check",
    "Terminer": "End",
    "terminé par": "ended by",
    "tous les serveurs": "all servers",
    "contrôle (facultatif)": "check (optional)",
    "motif": "reason",
    "Poser le silence": "Set the silence",
    "Import CSV des attentes et silences": "CSV import of expectations and silences",
    "La gestion des silences n'est pas encore disponible dans cette version.": (
        "Silences are not available in this version yet."
    ),
    "Aucun silence.": "No silence.",
    "Import d'un inventaire client (CSV)": "Import a client inventory (CSV)",
    "Une ligne par élément ; la colonne « type » vaut client, sender, site, server, contact ou "
    "backup_job. Séparateur « ; » ou « , », encodage UTF-8. Tout ou rien : une seule erreur et "
    "rien n'est écrit.": (
        'One line per item; the "type" column is client, sender, site, server, contact or '
        'backup_job. Separator ";" or ",", UTF-8 encoding. All or nothing: a single error and '
        "nothing is written."
    ),
    "Fichier": "File",
    "Essai à blanc (vérifier sans rien écrire)": "Dry run (check without writing anything)",
    "Importer": "Import",
    "Erreurs": "Errors",
    "Essai à blanc : aucune erreur": "Dry run: no error",
    "Import appliqué": "Import applied",
    "Lever": "Lift",
    "Levé par": "Lifted by",
    "Un verrouillage de compte ne s'applique pas depuis une adresse d'où ce compte s'est "
    "connecté récemment. « Lever » y met fin tout de suite.":
        "An account's lock-out does not apply from an address that account signed in from "
        "recently. “Lift” ends it at once.",
    "aucun lien (révoqué)": "no link (revoked)",
    "Ce lien donne vos visites à qui le détient : s'il a circulé, faites-en un nouveau "
    "(l'ancien cesse de fonctionner).":
        "This link gives your visits to whoever holds it: if it has been passed around, make "
        "a new one (the old one stops working).",
    "Nouveau lien": "New link",
    "Révoquer le lien": "Revoke the link",
    "Révoquer le calendrier": "Revoke the calendar",
    "L'import tourne en arrière-plan ; cette page montre son avancement.":
        "The import runs in the background; this page shows its progress.",
    "Import": "Import",
    "essai à blanc": "dry run",
    "import réel": "real import",
    "Lancé par": "Started by",
    "Lancé": "Started",
    "En cours": "Running",
    "Échec": "Failed",
    "Imports récents": "Recent imports",
    "Lignes": "Lines",
    "lignes lues": "lines read",
    "enregistrées": "saved",
    "rien n'a été écrit": "nothing was written",
    "Ligne": "Line",
    "à créer": "to create",
    "créés": "created",
    "à mettre à jour": "to update",
    "mis à jour": "updated",
}

# The technician's steps, the Temporal link, the major first-contact line (issue 10).
EN.update({
    "— choisir —": "— choose —",
    "Consignes au client": "Instructions to the client",
    "mail": "mail",
    "SMS (300 caractères au plus)": "SMS (300 characters at most)",
    "appel automatisé (puis mail)": "automated call (then mail)",
    "diagnostic N1 terminé": "L1 diagnosis ended",
    "en": "in",
    "Workflow Temporal": "Temporal workflow",
    "toutes ses exécutions": "all its runs",
    "Cas majeurs sans personne jointe par téléphone (premier contact non tenu, mail de repli "
    "compris)": "Major cases where nobody was reached by phone (first contact not met, "
    "fallback mail included)",
    # the workflow's guided step after unanswered calls (workflows.case_machine)
    "Personne n'a été joint par téléphone (mail de repli envoyé) : appeler le client ; le "
    "premier contact n'est tenu qu'une fois une personne jointe au téléphone":
    "Nobody was reached by phone (fallback mail sent): call the client; the first contact is "
    "met only once a person is reached on the phone",
})


# How an event's source was verified (records/sources.py, records/replies.py; issue 11).
SOURCE_LABELS: dict[str, tuple[str, str]] = {
    "ip": ("adresse IP du client", "client's IP address"),
    "relay": ("relais enregistré", "registered relay"),
    "sender": ("expéditeur déclaré (seul)", "declared sender (alone)"),
    "token": ("jeton de webhook", "webhook token"),
    "dkim": ("signature DKIM", "DKIM signature"),
    "spf": ("SPF", "SPF"),
    "unchecked": ("non contrôlée (aucune source enregistrée)",
                  "not checked (no source registered)"),
    "unverified": ("source non vérifiée", "unverified source"),
    "message_id": ("réponse à un message du desk", "answer to a desk message"),
    "contact": ("contact du client", "client's contact"),
    "technician": ("rattachée par un technicien", "attached by a technician"),
}
RULE_KIND_LABELS: dict[str, tuple[str, str]] = {
    "ip": ("adresse ou réseau du client", "client's address or network"),
    "relay": ("relais (avec les expéditeurs ci-dessous)", "relay (with the senders below)"),
    "sender": ("expéditeur d'enveloppe", "envelope sender"),
    "dkim": ("domaine DKIM", "DKIM domain"),
    "spf": ("domaine SPF", "SPF domain"),
}
EN.update({
    "source non vérifiée": "unverified source",
    "expéditeur non vérifié": "unverified sender",
    "nomme le cas": "names case",
    "Rattacher au cas": "Attach to case",
    "ignoré (source non vérifiée)": "ignored (unverified source)",
    "Vérification de la source": "Source verification",
    "Sources autorisées": "Allowed sources",
    "Ces sources peuvent parler pour ce client : une alerte d'une autre source ouvre un cas "
    "« source non vérifiée », jamais classé d'office, et ne résout, ne ferme ni ne met en "
    "sourdine rien. Le contrôle est actif dès qu'une adresse, un relais, un domaine DKIM ou "
    "SPF est enregistré (les adresses IP fixes du client comptent).": (
        "These sources may speak for this client: an alert from any other source opens an "
        '"unverified source" case, never classified by a preset, and resolves, closes or '
        "mutes nothing. Checking is on as soon as an address, a relay, a DKIM or SPF domain "
        "is registered (the client's fixed IP addresses count)."
    ),
    "contrôle actif": "checking on",
    "contrôle inactif (aucune source enregistrée)": "checking off (no source registered)",
    "Type": "Type",
    "Valeur": "Value",
    "Note": "Note",
    "Ajouter": "Add",
    "Retirer": "Remove",
    "Aucune.": "None.",
    # mail through a relay not registered for the client (issue 21, finding 16)
    "Contrôle par IP fixe en échec : relais non enregistré":
    "Fixed-IP check failing: unregistered relay",
    "Des messages de ce client arrivent par un relais qui n'est pas enregistré pour lui : ils "
    "sont « source non vérifiée ». Leurs en-têtes Received nomment une adresse fixe du client ; "
    "enregistrez le relais s'il est bien le sien (ces en-têtes s'écrivent à la main : vérifiez "
    "avec le client).": (
        "Mail of this client comes through a relay that is not registered for it: it is "
        '"unverified source". Its Received headers name a fixed address of the client; '
        "register the relay if it is the client's own (anyone can write such headers: check "
        "with the client)."
    ),
    "Relais": "Relay",
    "Adresse du client (en-têtes Received)": "Client's address (Received headers)",
    "Messages": "Messages",
    "Dernier": "Latest",
    "relais du client": "client's relay",
    "Enregistrer ce relais": "Register this relay",
    "Sources": "Sources",
    "relais non enregistré": "unregistered relay",
})


from console.i18n_visits import EN_VISITS  # noqa: E402  (the visits' pages)

EN.update({k: v for k, v in EN_VISITS.items() if k not in EN})

from console.i18n_year import EN_YEAR  # noqa: E402  (late visits, answers, the inbox)

EN.update({k: v for k, v in EN_YEAR.items() if k not in EN})


def gettext(lang: str, text: str) -> str:
    if lang == "en":
        return EN.get(text, text)
    return text


def state_label(lang: str, state: str | None) -> str:
    if not state:
        return "—"
    table = STATE_EN if lang == "en" else STATE_LABELS
    return table.get(state, state)


def criticality_label(lang: str, criticality: str | None) -> str:
    if not criticality:
        return "non classé" if lang != "en" else "unclassified"
    table = CRITICALITY_EN if lang == "en" else CRITICALITY_LABELS
    return table.get(criticality, criticality)


def pair_label(table: dict[str, tuple[str, str]], lang: str, key: str | None) -> str:
    """A label from one of the (French, English) tables above; unknown keys shown as is."""
    if not key:
        return "—"
    pair = table.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


LABEL_TABLES: dict[str, dict[str, tuple[str, str]]] = {
    "role": ROLE_LABELS,
    "family": FAMILY_LABELS,
    "action": ACTION_LABELS,
    "channel": CHANNEL_LABELS,
    "outcome": OUTCOME_LABELS,
    "figure": FIGURE_LABELS,
    "comm_status": COMM_STATUS_LABELS,
    "comm_step": COMM_STEP_LABELS,
    "transport": TRANSPORT_LABELS,
    "severity": SEVERITY_LABELS,
    "event_status": EVENT_STATUS_LABELS,
    "contact_role": CONTACT_ROLE_LABELS,
    "header": HEADER_LABELS,
    "backup_status": BACKUP_STATUS_LABELS,
    "data_key": DATA_KEY_LABELS,
    "intake": INTAKE_LABELS,
    "expectation_kind": EXPECTATION_KIND_LABELS,
    "expectation_state": EXPECTATION_STATE_LABELS,
    "signin": SIGNIN_LABELS,
    "actor": ACTOR_LABELS,
}
# How each data field's value reads (a class, a channel...): the table that labels it.
DATA_VALUE_TABLES: dict[str, str] = {
    "channel": "channel",
    "outcome": "outcome",
    "severity": "severity",
    "status": "comm_status",
    "step": "comm_step",
    "by": "actor",
}


def data_items(
    lang: str, data: dict[str, object] | None, skip: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """A ledger entry's data as (label, value) a person reads: keys named, classes, channels
    and outcomes labelled, empty values dropped; never ``key=value``. ``skip``: keys the page
    shows in a place of their own (a call report's text)."""
    items: list[tuple[str, str]] = []
    for key, raw in (data or {}).items():
        if key in skip:
            continue
        value = "" if raw is None else str(raw)
        if not value:
            continue
        if key in ("criticality", "previous"):
            shown = criticality_label(lang, value)
        elif key in DATA_VALUE_TABLES:
            table = LABEL_TABLES[DATA_VALUE_TABLES[key]]
            shown = pair_label(table, lang, value) if value in table else value
        else:
            shown = value
        items.append((pair_label(DATA_KEY_LABELS, lang, key), shown))
    return items


# The SLA derivation sentences of ``domain.sla`` (French, built from a fixed vocabulary):
# English by phrase, longest first, so "dépassé de" goes before "dépassé".
_EXPLAIN_EN: tuple[tuple[str, str], ...] = (
    (r"\bDu signalement n° ", "From report no. "),
    (r"\bDu début du diagnostic N1 n° ", "From L1 diagnosis start no. "),
    (r"\bà la classification n° ", "to classification no. "),
    (r"\bau premier contact client n° ", "to first client contact no. "),
    (r"\bà l'enregistrement de la demande n° ", "to request registration no. "),
    (r"\bà l'escalade en niveau 2 n° ", "to level-2 escalation no. "),
    (r"\bà la résolution n° ", "to resolution no. "),
    (r"\bà la clôture n° ", "to closure no. "),
    (r"\bà l'entrée n° ", "to entry no. "),
    (r"\bavant la résolution n° ", "before resolution no. "),
    (r"\bavant la clôture n° ", "before closure no. "),
    (r"\bpar la minuterie\b", "automatically at the deadline"),
    (r"\bcriticité non encore définie\b", "criticality not set yet"),
    (r"\bcriticité non définie\b", "criticality not set"),
    (r"\bsans communication client\b", "no client communication"),
    (r"\baucune classification\b", "no classification"),
    (r"\baucun contact client\b", "no client contact"),
    (r"\baucune demande enregistrée\b", "no request registered"),
    (r"\bsans demande\b", "no request"),
    (r"\bdiagnostic N1 jamais démarré\b", "L1 diagnosis never started"),
    (r"\bdiagnostic N1 non démarré\b", "L1 diagnosis not started"),
    (r"\bsans diagnostic N1\b", "no L1 diagnosis"),
    (r"\bni escalade ni résolution\b", "neither escalation nor resolution"),
    (r"\bnon atteinte\b", "not reached"),
    (r"\bdépassé de\b", "exceeded by"),
    (r"\bdépassé\b", "exceeded"),
    (r"\brespecté\b", "met"),
    (r"\bobjectif\b", "target"),
    (r"\béchéance\b", "deadline"),
    (r"\ben cours\b", "running"),
    (r"\bouvrées\b", "business"),
    (r"\bcalendaires\b", "calendar"),
    (r"\bavant\b", "before"),
    (r"\bau (?=\w+\. \d)", "at "),
    (r"\bpar\b", "by"),
    (r"\bsans impact\b", "no impact"),
    (r"\bmineur\b", "minor"),
    (r"\bsignificatif\b", "significant"),
    (r"\bmajeur\b", "major"),
    (r"\btéléphone\b", "phone"),
    (r"\bjoint\b", "reached"),
    (r"\benvoyé\b", "sent"),
    (r"\bremis\b", "delivered"),
    (r"\bsans réponse\b", "no answer"),
    (r"\boccupé\b", "busy"),
    (r"\bmessagerie\b", "voicemail"),
    (r"\béchec\b", "failed"),
    (r"\blun\.", "Mon"),
    (r"\bmar\.", "Tue"),
    (r"\bmer\.", "Wed"),
    (r"\bjeu\.", "Thu"),
    (r"\bven\.", "Fri"),
    (r"\bsam\.", "Sat"),
    (r"\bdim\.", "Sun"),
    (r"(\d) j (\d)", r"\1 d \2"),
    (r"n° ", "no. "),
)
_EXPLAIN_RE = tuple((re.compile(p), r) for p, r in _EXPLAIN_EN)


def explain(lang: str, text: str) -> str:
    """An SLA derivation sentence in the page's language (``domain.sla`` writes French)."""
    if lang != "en" or not text:
        return text
    for pattern, repl in _EXPLAIN_RE:
        text = pattern.sub(repl, text)
    return text


def number(lang: str, value: float | None, digits: int = 1) -> str:
    """A decimal number as the page's language writes it: "0,0" in French, "0.0" in
    English (``None`` reads as zero: a share of no case)."""
    text = f"{value or 0:.{digits}f}"
    return text.replace(".", ",") if lang != "en" else text


def actor_label(lang: str, actor: str | None) -> str:
    """Who acted: a person's user name as is, the desk's automatic actors by name."""
    if not actor:
        return "—"
    pair = ACTOR_LABELS.get(actor)
    return actor if pair is None else pair[1 if lang == "en" else 0]



def _fold_contract_strings() -> None:
    """The contract pages' English lives in ``console.i18n_contracts`` (merge-friendly)."""
    from console.i18n_contracts import EN as CONTRACT_EN

    for key, value in CONTRACT_EN.items():
        EN.setdefault(key, value)


_fold_contract_strings()


def _fold_incident_strings() -> None:
    """The site incidents' English lives in ``console.i18n_incidents`` (merge-friendly)."""
    from console.i18n_incidents import EN as INCIDENT_EN
    from console.i18n_incidents import FAMILY_LABELS as INCIDENT_FAMILIES

    for key, value in INCIDENT_EN.items():
        EN.setdefault(key, value)
    for key, pair in INCIDENT_FAMILIES.items():
        FAMILY_LABELS.setdefault(key, pair)


_fold_incident_strings()
