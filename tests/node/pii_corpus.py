"""Realistic prevention texts for measuring the PII check (node/sharing/pii.py).

CLEAN holds snippets typical of experience records and alerts that contain no personal data but
many things that look like it: budgets, dates, years, percentages, postal codes, case bands,
paragraphs, motorways, ARS keys, URLs and the function mailbox. They are scanned with
ALLOWED_MAILBOX as the record's own mailbox.

PLANTED holds sentences with personal data whose spans are marked inline as ``[[kind:text]]``;
`planted_case` strips the marks and returns the plain text with the exact offsets of each span.
Names, numbers, plates and IBANs are invented (the IBANs are the standard checksum-valid examples).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ALLOWED_MAILBOX = "praevention@stadt.de"

CLEAN: tuple[str, ...] = (
    # project descriptions, budgets, durations
    "Das Projekt „Sicher wohnen im Quartier“ lief vom 01.09.2023 bis 31.07.2025 und kostete 4.000 EUR pro Jahr.",
    "Laufzeit: 09/2023–07/2025, Personal: 1,5 VZÄ, Kosten: 48.500 € (davon 60 % Eigenmittel, 40 % Landesmittel).",  # noqa: RUF001
    "Im Zeitraum 2019-2021 sank die Zahl der Wohnungseinbrüche im Stadtgebiet um 23 %, 2022 stieg sie wieder leicht.",
    "Gefördert vom Landesprogramm „Sichere Kommune“, Förderkennzeichen 13N15678, Eigenanteil 10.000 Euro.",
    "Die Evaluation (Prozess- und Ergebnisevaluation) ergab die Evidenzstufe „wahrscheinlich“ nach Grüner Liste "
    "Prävention.",
    "Phase 2 begann am 2023-09-01 mit der Auftaktveranstaltung im Rathaus; Phase 3 folgt im Schuljahr 2024/25.",
    "Kapitel 3 beschreibt die Methodik, Paragraph 12 der Satzung die Zuständigkeit; Stufe 3 des Konzepts beginnt "
    "im Schuljahr 2.",
    "Zielgruppe sind Schülerinnen und Schüler ab Klasse 5; in Phase 2 kommen die Eltern hinzu, Modul 4 behandelt "
    "Mediensucht.",
    "Grundlage ist § 14 SGB VIII (erzieherischer Kinder- und Jugendschutz) sowie § 16 SGB II für die "
    "Beschäftigungsangebote.",
    "Rund 296.582 Einwohnerinnen und Einwohner auf 146,87 km²; der Kommunale Präventionsrat besteht seit 1998.",
    "Die Stadt Ingolstadt (ca. 140.000 Einwohner) und der Landkreis Eichstätt haben 2022 ein gemeinsames Lagebild "
    "erstellt.",
    "86150 Augsburg und 01067 Dresden beteiligen sich mit je 0,5 Stellen; 04109 Leipzig kommt 2025 hinzu.",
    "ARS 091620000000 (Landeshauptstadt München), AGS 09162000; Setting: Großstadt, Innenstadt.",
    "Abschlussbericht: https://www.stadt-augsburg.de/praevention/bericht-2023.pdf (Seite 14-19).",
    "Rückmeldungen zum Bericht bitte an praevention@stadt.de oder über das Kontaktformular der Stadt.",
    "Kontakt über das Funktionspostfach PRAEVENTION@STADT.DE; Anfragen werden innerhalb von 5 Werktagen beantwortet.",
    "Förderung durch das Innenministerium, Az. 0815/2023, Bewilligung vom 15.03.2023.",
    "Stichtag 31.12.2023; Datengrundlage sind die PKS 2023 und die Bürgerbefragung 2022 (n = 1.204, Rücklauf 31 %).",
    # organisations, places
    "Ansprechpartner ist die Polizeiinspektion Augsburg Mitte gemeinsam mit dem Landespräventionsrat.",
    "Kooperationspartner: Weißer Ring, Caritas, Diakonie, Deutscher Kinderschutzbund und der Stadtjugendring.",
    "Betroffen sind vor allem Rosenheim-Süd und die Fußgängerzone rund um den Marienplatz.",
    "Die Leitstelle Kriminalprävention Rheinland-Pfalz unterstützt rund 120 Kommunen bei Sicherheitsanalysen.",
    "Das Marie-Curie-Gymnasium und die Anne-Frank-Realschule nehmen mit je zwei Klassen teil.",
    "Die Kontaktbereichsbeamten sind Mo.–Fr. 9–12 Uhr in der Sprechstunde am Königsplatz anzutreffen.",  # noqa: RUF001
    "Die Maßnahme wurde im Stadtbezirk 12 (Haunstetten-Siebenbrunn) und im Bezirk 7 erprobt.",
    "Die Friedrich Ebert Stiftung und die Konrad Adenauer Stiftung haben die Fachtagung mitfinanziert.",
    # alerts, CAP, case bands
    "Vermehrt Diebstähle von Katalysatoren an Rastplätzen entlang der A 8 zwischen Augsburg und München.",
    "Fallzahl im Berichtszeitraum: 10-19 Fälle, Tendenz steigend; im Vormonat <5 Fälle.",
    "Urgency: Expected, Severity: Moderate, Certainty: Likely; msgType Update mit Referenz auf die Meldung vom "
    "02.05.2024.",
    "Falsche Handwerker in Wohngebieten: Täter geben sich als Mitarbeiter der Stadtwerke aus und verlangen Vorkasse.",
    "Eine Frau Mitte 70 wurde am Telefon von einem falschen Polizeibeamten um 12.000 Euro betrogen.",
    "Ein älterer Herr Anfang 80 übergab einem Abholer Schmuck im Wert von rund 8.000 Euro.",
    "Seit Mai 2024 warnt die Polizei vor Schockanrufen; allein im Juni wurden 20+ Fälle gemeldet.",
    "Auf dem Weihnachtsmarkt 12 Taschendiebstähle an einem Wochenende, überwiegend zwischen 17:00 und 20:00 Uhr.",
    "Im Schnitt 3 Fälle pro Monat; am Ende 2 zusätzliche Streifen an Wochenenden.",
    "Die Buslinien 3 und 7, die U 3 und die S 1 sowie die B 17 sind vom Umleitungsverkehr betroffen.",
    "Telefonnummern von Betroffenen werden nicht gespeichert; Hinweise bitte über die 110 oder die Onlinewache.",
    "TLP:AMBER – nur für die Mitglieder des Städtenetzwerks; Weitergabe an den örtlichen Präventionsrat ist erlaubt.",  # noqa: RUF001
    "Hinweise zur Fahrradsicherung: Rahmennummer notieren, Codierung bei der Polizei, zwei Schlösser, CO2-neutral "
    "zur Schule.",
    # timelines in markdown
    "* 01.09.2023: Auftakt mit den Schulen\n* 15.11.2023: erste Begehung\n* 31.07.2025: Abschluss",
    "**01.03.2024**: Start der Plakataktion\n**30.06.2024**: Auswertung der Rückmeldungen",
    # lessons, transferability
    "Gelingensbedingungen: feste Ansprechpersonen im Jugendamt, ein Budget von 2.500 EUR für Material, 3 "
    "Workshops je Halbjahr.",
    "Übertragbar auf Städte ab 50.000 Einwohnern; Stolpersteine waren Personalwechsel und lange Vergabeverfahren.",
    "Die Maßnahme richtet sich an Seniorinnen und Senioren ab 65 Jahren (Schockanrufe, Enkeltrick, falsche "
    "Polizeibeamte).",
    "Jugendliche im Alter von 12 bis 17 Jahren; Tatzeit überwiegend zwischen 22:00 und 04:00 Uhr.",
    "Eltern berichteten in Gruppe 2 offener über Mediennutzung als in Gruppe 1; Auf Platz 3 der Sorgen steht "
    "Cybermobbing.",
    "Ergebnis: Rückgang der Taschendiebstähle auf dem Weihnachtsmarkt um 35 Prozent gegenüber 2022.",
    "Version 1.2 des CAP-Profils; Feld eventCode „Wohnungseinbruch“, areaDesc „Innenstadt“.",
    # English
    "The project ran from September 2022 to June 2024 and reached 1,200 pupils in 14 schools.",
    "Street lighting was improved on 12 streets; burglaries fell by 18% compared with 2021 (p < 0.05).",
    "Contact: praevention@stadt.de. The evaluation report was published on 2023-05-15 under CC BY 4.0.",
    "Can Street Lighting Reduce Crime? A Review of 21 Studies from the UK and the US.",
    # written as a held-out batch after the detectors were tuned on the texts above, and measured once
    "Die Sicherheitsbegehung am 14.10.2023 mit 23 Teilnehmenden ergab 17 Angsträume, davon 5 in der Unterführung am "
    "Hauptbahnhof.",
    "Nach dem Umbau der Beleuchtung im Stadtpark sank die Zahl der Anzeigen von 41 (2021) auf 26 (2023).",
    "Der Präventionsrat tagt viermal im Jahr; Sitzung 3/2024 fand im Großen Sitzungssaal des Rathauses statt.",
    "Partner: Polizeipräsidium Schwaben Nord, Staatliches Schulamt, Jugendhilfe Augsburg gGmbH, Stadtwerke.",
    "Hinweis: Betrüger nutzen derzeit gefälschte Rufnummern mit der Vorwahl 0821, die echte Dienststellen vortäuschen.",
    "Empfehlung: Legen Sie auf, wenn Sie jemand am Telefon unter Druck setzt, und rufen Sie die 110 selbst an.",
    "Im Landkreis Rosenheim wurden von Januar bis März 2024 insgesamt 5-9 Fälle von Enkeltrick gemeldet.",
    "Der Workshop „Cybergrooming erkennen“ umfasst 4 Einheiten à 90 Minuten für die Jahrgangsstufen 6 bis 8.",
    "Die Fahrradstaffel des Ordnungsdienstes ist seit April 2023 an 5 Tagen pro Woche im Einsatz.",
    "Budget 2024: 12.345,67 EUR; Sachkosten 3.200 EUR; Honorare 6.000 EUR; Rest Öffentlichkeitsarbeit.",
    "Wirkannahme: Mehr informelle soziale Kontrolle im Quartier verringert Vandalismus (Broken-Windows-Debatte "
    "beachten).",
    "Zielgruppen: Eltern, Lehrkräfte, Fachkräfte der offenen Kinder- und Jugendarbeit, Vereine.",
    "Die Befragung (n=2.350) zeigt: 38 % fühlen sich nachts in der Innenstadt unsicher, 2019 waren es 44 %.",
    "Vorlage an den Stadtrat, Drucksache 24/0123, Beschluss am 07.05.2024 einstimmig.",
    "Alarm: Vermehrt Aufbrüche von Kellerabteilen in Mehrfamilienhäusern im Stadtteil Kriegshaber, Tendenz steigend.",
    "Aktion „Hellwach“ in Zusammenarbeit mit der Verkehrswacht, Plakate in DIN A1 an 40 Haltestellen.",
    "Lessons learned: Involve residents early; a budget of EUR 15,000 was enough for two years in a town of 30,000.",
    "Das Projekt wurde beim Deutschen Präventionstag 2024 in Cottbus vorgestellt (Vortrag 12, Raum B 2.04).",
    "Gemeinsames Lagebild mit der Bundespolizei für den Bahnhofsbereich, Gleis 1 bis 12, Zeitraum KW 10 bis KW 22.",
    "Die Streetworkerinnen sind dienstags und donnerstags ab 16 Uhr am Skatepark und am Wertachufer unterwegs.",
)


@dataclass(frozen=True)
class PlantedSpan:
    """One span of personal data planted in a text."""

    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class PlantedCase:
    """A text with its planted spans."""

    name: str
    text: str
    spans: tuple[PlantedSpan, ...]


_MARK = re.compile(r"\[\[([a-z_]+):(.+?)\]\]")

PLANTED: dict[str, str] = {
    # e-mail
    "email_named_person": "Rückfragen zum Projekt bitte an [[email:m.mueller@stadt-augsburg.de]] richten, nicht an "
    "das Funktionspostfach.",
    "email_capitalised": "Die Schulsozialarbeiterin ist unter [[email:Anna.Schmidt@gs-bonn-nord.de]] erreichbar.",
    "email_english": "For the evaluation data please write to [[email:j.smith@police.example.org]] before 30 June.",
    "email_two": "Verteiler: [[email:Praevention.Bonn@Polizei.NRW.de]] und [[email:kpr@landkreis-example.de]].",
    # phone
    "phone_international": "Ansprechpartnerin der Polizei: [[person_name:Frau Dr. Schmidt]], Tel. "
    "[[phone:+49 821 323-1234]].",
    "phone_slash": "Die Hinweise gingen telefonisch unter [[phone:0821/324 1234]] beim Ordnungsamt ein.",
    "phone_brackets": "Der Hausmeister meldete sich unter [[phone:(0821) 3241234]] und schilderte die Schäden.",
    "phone_mobile": "Die Jugendlichen verabredeten sich per WhatsApp unter [[phone:0171 1234567]] zu den Treffen.",
    "phone_0049": "Eine Zeugin aus Berlin, [[phone:0049 30 12345678]], hat den Vorfall gemeldet.",
    "phone_bare_mobile": "Auf dem Zettel des Trickbetrügers stand die Nummer [[phone:015112345678]].",
    "phone_plus_zero": "Rückruf erbeten unter [[phone:+49 (0) 89 233-45678]] (Kommissariat 105).",
    "phone_uk": "The caller used a spoofed number, [[phone:+44 20 7946 0958]], claiming to be from the bank.",
    "phone_en_dash": "Bei Fragen ist die Hausverwaltung unter [[phone:0911 231–4567]] zu erreichen.",  # noqa: RUF001
    # IBAN
    "iban_de_grouped": "Die Spende wurde auf das Konto mit der IBAN [[iban:DE89 3704 0044 0532 0130 00]] überwiesen.",
    "iban_de_compact": "Die Täter forderten eine Überweisung auf [[iban:DE89370400440532013000]] binnen 24 Stunden.",
    "iban_at": "Betroffene überwiesen an ein österreichisches Konto ([[iban:AT61 1904 3002 3457 3201]]).",
    "iban_gb": "Victims were asked to pay into [[iban:GB29 NWBK 6016 1331 9268 19]] within a day.",
    "iban_nl": "Das angebliche Inkassobüro nannte die Bankverbindung [[iban:NL91ABNA0417164300]].",
    # street address
    "street_strasse": "Der Einbruch ereignete sich in der [[street_address:Hauptstraße 12]] im Erdgeschoss.",
    "street_am_markt": "Treffpunkt war der Hinterhof des Hauses [[street_address:Am Markt 3a]] in der Altstadt.",
    "street_platz": "Mehrere Fahrräder wurden vor dem Anwesen [[street_address:Königsplatz 1]] beschädigt.",
    "street_abbreviated": "Die Beratungsstelle zieht in die [[street_address:Bahnhofstr. 5]], zweiter Stock, um.",
    "street_adjective": "Anwohner der [[street_address:Lange Gasse 14]] beschwerten sich über nächtlichen Lärm.",
    "street_range": "Im Hinterhof der [[street_address:Maximilianstraße 12-14]] wurden Spritzen gefunden.",
    "street_hyphenated": "Der Tatverdächtige wohnt in der [[street_address:Karl-Marx-Allee 90]] in Berlin.",
    "street_unter_den_linden": "Der Übergriff geschah vor dem Haus [[street_address:Unter den Linden 77]] gegen "
    "23 Uhr.",
    "street_weg": "Die Jugendlichen treffen sich im Keller des Hauses [[street_address:Schillerweg 4]] in Lechhausen.",
    "street_allee": "Der Spielplatz an der [[street_address:Konrad-Adenauer-Allee 12]] ist nachts unbeleuchtet.",
    "street_stieg": "Die Gruppe sammelte sich jeden Abend am [[street_address:Jungfernstieg 7]] vor dem Kiosk.",
    "street_alte": "Eine Bewohnerin der [[street_address:Alte Poststraße 3]] hat die Schmierereien gemeldet.",
    # date of birth
    "dob_geb": "Der Beschuldigte, geb. [[date_of_birth:12.03.1987]], ist bereits polizeibekannt.",
    "dob_month_name": "Die Geschädigte, geboren am [[date_of_birth:4. Mai 2009]], besucht die Mittelschule.",
    "dob_iso": "Geburtsdatum: [[date_of_birth:2008-11-30]]; Schulform: Realschule.",
    "dob_star": "Beteiligt war ein Jugendlicher (* [[date_of_birth:01.02.2010]]) aus dem Stadtteil Oberhausen.",
    "dob_born_english": "The suspect, born on [[date_of_birth:12 March 1987]], had been cautioned before.",
    "dob_dob_english": "DOB: [[date_of_birth:03/12/1987]], no previous convictions recorded.",
    # vehicle plates
    "plate_hyphen": "Das Fahrzeug mit dem Kennzeichen [[vehicle_plate:M-AB 1234]] wurde mehrfach am Schulweg gesehen.",
    "plate_space": "Zeugen notierten das Kennzeichen [[vehicle_plate:B XY 123]] eines dunklen Transporters.",
    "plate_electric": "Ein Elektroauto ([[vehicle_plate:HH-A 12E]]) stand während der Tat vor der Kita.",
    "plate_historic": "Das Oldtimer-Kennzeichen [[vehicle_plate:A-BC 123H]] gehört zum Wagen des Tatverdächtigen.",
    "plate_on_motorway": "Aufgefallen ist ein Transporter mit dem Kennzeichen [[vehicle_plate:DD MK 4521]] auf der "
    "A 4.",
    # person names
    "name_abbreviated_honorifics": "Der Kontaktbeamte [[person_name:Hr. Meier]] und [[person_name:Fr. Yılmaz]] vom "  # noqa: RUF001
    "Jugendamt leiteten den Workshop.",
    "name_given_and_surname": "[[person_name:Anna Schmidt]] (Schulleitung) und [[person_name:Mehmet Yilmaz]] "
    "(Elternbeirat) stellten das Konzept vor.",
    "name_polish": "Die Moderation übernahm [[person_name:Katarzyna Nowak]] vom Weißen Ring.",
    "name_italian": "Mit [[person_name:Giuseppe Rossi]], dem Wirt der Pizzeria, wurde eine Hausordnung vereinbart.",
    "name_english": "[[person_name:Mr Jones]] from the youth club and [[person_name:John Smith]] chaired the meeting.",
    "name_particle": "Laut [[person_name:Herrn von Berg]] vom Ordnungsdienst hat sich die Lage beruhigt.",
    "name_double_given": "[[person_name:Hans-Peter Krause]] und [[person_name:Olga Iwanowa]] betreuen den "
    "Seniorentreff.",
    "name_honorific_given_surname": "Das Gespräch mit [[person_name:Frau Anna-Lena Weber]] ergab keine neuen Hinweise.",
    "name_arabic_and_phone": "Im Chat bot [[person_name:Ahmad Al-Hassan]] den Schülern Drogen an; Kontakt über "
    "[[phone:0176 98765432]].",
    "name_frau_surname": "Die Geldabholerin nannte sich [[person_name:Frau Kowalski]] und nahm 20.000 Euro mit.",
    "name_doctor": "Schockanruf: Ein angeblicher [[person_name:Dr. Weber]] forderte eine Kaution für den Sohn.",
    # several kinds in one sentence
    "everything": "Anzeige von [[person_name:Dragan Petrović]], geb. [[date_of_birth:7.8.1975]], wohnhaft "
    "[[street_address:Goethestraße 21]], Tel. [[phone:0821 4567890]], Kennzeichen [[vehicle_plate:A-KL 555]].",
    "victim_and_street": "Das Opfer, [[person_name:Herr Müller]] aus der [[street_address:Jahnstraße 7]], "
    "erstattete Anzeige.",
    # held-out batch, like the last clean texts
    "h_email_plus": "Die Anmeldung lief über [[email:elternabend+2024@realschule-sued.de]] und das Sekretariat.",
    "h_phone_landline": "Der Nachbar, erreichbar unter [[phone:089 12345678]], hat den Einbruch bemerkt.",
    "h_phone_mobile_dash": "Die Abholerin gab ihre Handynummer [[phone:0152-23456789]] an.",
    "h_iban_fr": "Überweisung auf ein französisches Konto: [[iban:FR14 2004 1010 0505 0001 3M02 606]].",
    "h_street_platz": "Die Gruppe hält sich häufig am Brunnen vor dem Haus [[street_address:Rathausplatz 2]] auf.",
    "h_street_chaussee": "Die Geschädigte wohnt in der [[street_address:Elbchaussee 120]] in Hamburg.",
    "h_dob_geboren": "[[person_name:Lukas Becker]], geboren [[date_of_birth:23.06.2007]], ist Schüler der Klasse 10b.",
    "h_plate_koeln": "Das Kennzeichen [[vehicle_plate:K-XY 8899]] wurde an der Rheinuferstraße abgelesen.",
    "h_name_turkish": "Die Leitung des Elterncafés hat [[person_name:Ayşe Demir]] übernommen.",
    "h_name_herr_double": "[[person_name:Herr Klaus Dieter Wagner]] meldete sich als Zeuge.",
    "h_name_russian": "[[person_name:Swetlana Petrowa]] aus dem Seniorenbeirat organisiert die Infoabende.",
}


def planted_case(name: str) -> PlantedCase:
    """Strip the ``[[kind:text]]`` marks of a planted text; return it with the exact span offsets."""
    marked = PLANTED[name]
    parts: list[str] = []
    spans: list[PlantedSpan] = []
    position = 0
    length = 0
    for match in _MARK.finditer(marked):
        before = marked[position : match.start()]
        parts.append(before)
        length += len(before)
        kind, text = match.group(1), match.group(2)
        spans.append(PlantedSpan(kind, text, length, length + len(text)))
        parts.append(text)
        length += len(text)
        position = match.end()
    parts.append(marked[position:])
    return PlantedCase(name, "".join(parts), tuple(spans))
