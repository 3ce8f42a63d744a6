"""French first, English available: a dictionary keyed by the French text itself.

Templates write ``_("File d'attente")``: the French reads in place, and English is a lookup
(``EN``) that falls back to the French when a string has no translation yet (a test lists
the strings of every template that lack one). The state and criticality labels in French
are the case workflow's own (``workflows.case_machine``), so the console never renames what
the workflow calls a state.
"""

from __future__ import annotations

from workflows.case_machine import CRITICALITY_LABELS, STATE_LABELS

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
}
ACTION_LABELS: dict[str, tuple[str, str]] = {
    "open": ("ouverture", "opened"),
    "repeat": ("répétition", "repeat"),
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
    "Cas derrière le chiffre": "Cases behind the number",
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
    "« env » : valeurs de l'environnement (VIGIE_BUSINESS_START…). Une nouvelle version "
    "recalcule les indicateurs SLA.": (
        '"env": values from the environment (VIGIE_BUSINESS_START…). A new version recomputes '
        "the SLA figures."
    ),
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
    "lignes lues": "lines read",
    "enregistrées": "saved",
    "rien n'a été écrit": "nothing was written",
    "Ligne": "Line",
    "à créer": "to create",
    "créés": "created",
    "à mettre à jour": "to update",
    "mis à jour": "updated",
}


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
