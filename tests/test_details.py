"""The closed-class details (numbers, weekdays, months) the judge compares with a reference."""
import pytest

from saif_core.details import details, differences, invented

CASES = [
    ("en", "Twenty-five people came on Monday, 3 May.", {("number", 25), ("number", 3), ("weekday", 1), ("month", 5)}),
    ("en", "You may leave one bag here.", set()),  # 'may' the verb, 'one' alone
    ("en", "A three-century-old oak; five hundred and twelve rings.", {("number", 300), ("number", 512)}),
    ("en", "twenty-one guests, then 22, 2000 more", {("number", 21), ("number", 22), ("number", 2000)}),
    ("fr", "Quatre-vingt-dix-neuf élèves, vingt et un profs, un livre neuf.", {("number", 99), ("number", 21)}),
    ("fr", "Le vol a été retardé de trois heures dimanche 12 mars.",
     {("number", 3), ("weekday", 7), ("number", 12), ("month", 3)}),
    ("zh", "三百年的老橡树，两千人，十分高兴，一个人。", {("number", 300), ("number", 2000)}),
    ("zh", "星期天，十二月，2024年，周三", {("weekday", 7), ("month", 12), ("number", 2024), ("weekday", 3)}),
    ("de", "Über tausend Tiere, dreihundertzwanzig Jahre, ein Luchs, am Sonntag im Mai.",
     {("number", 1000), ("number", 320), ("weekday", 7), ("month", 5)}),
    ("es", "A los cuarenta años, doscientas personas, veintidós, dos mil, el lunes de mayo, uno.",
     {("number", 40), ("number", 200), ("number", 22), ("number", 2000), ("weekday", 1), ("month", 5)}),
    ("ja", "3人が2024年に来た。", {("number", 3), ("number", 2024)}),  # other languages: digits only
]


@pytest.mark.parametrize("language,text,expected", CASES)
def test_details_are_read_as_values(language, text, expected):
    assert details(text, language) == expected


def test_a_wrong_number_differs_but_the_same_number_in_digits_does_not():
    assert differences("Le zoo a reçu trois pandas.", "Le zoo a reçu deux pandas.", "fr")
    assert differences("飞往蒙特利尔的航班延误了五个小时。", "飞往蒙特利尔的航班因风力影响延误了三个小时。", "zh")
    assert differences("We spent the whole of Saturday weeding.", "We spent the whole of Sunday weeding.", "en")
    assert differences("Le zoo a reçu 2 pandas.", "Le zoo a reçu deux pandas.", "fr") is None
    assert differences("该厂用水量降低了百分之五十。", "用水量减少了50%。", "zh") is None  # 百分之五十 read as 50


def test_a_dropped_detail_differs_and_an_added_one_only_where_the_reference_names_its_kind():
    assert "nothing of that kind" not in differences("The shop opens.", "The shop opens at 9.", "en")
    assert differences("The shop is open 24 hours a day.", "The shop is open around the clock.", "en") is None
    assert differences("We met on Monday at 5.", "We met on Monday.", "en") is None  # no number in the reference
    assert differences("We met on Tuesday.", "We met on Monday.", "en")


def test_a_summary_naming_a_number_its_source_lacks_is_flagged():
    source = "Die Werkzeugausleihe verzeichnete schon über tausend Ausleihen."
    assert invented("Rund hundert Geräte wurden verkauft.", source, "de") == "number 100"
    assert invented("Über tausend Ausleihen.", source, "de") is None
