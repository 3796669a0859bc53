"""Generate a deterministic demo channel export (Telegram Desktop result.json format).

Usage: python bot/demo/make_sample.py  -> writes bot/demo/sample_export.json
Standard library only; output is fully determined by random.Random(42).
"""
from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CHANNEL_NAME = "Гладков Вячеслав"
CHANNEL_ID = 1302282372
FROM_ID = f"channel{CHANNEL_ID}"
OUT = Path(__file__).with_name("sample_export.json")

END_DAY = datetime(2026, 11, 20, tzinfo=UTC)
DAYS = 30
TOTAL = 330

VILLAGES = ["Шебекино", "Грайворон", "Валуйки", "Новая Таволжанка", "Журавлёвка",
            "Головчино", "Козинка", "Муром", "Репяховка", "Вознесеновка", "Бессоновка",
            "Красная Яруга", "Октябрьский", "Ясные Зори", "Глотово", "Нехотеевка"]
DISTRICTS = ["Шебекинский", "Грайворонский", "Валуйский", "Белгородский", "Краснояружский",
             "Волоконовский", "Борисовский"]
UA_VILLAGES = ["Шебекіне", "Грайворон", "Валуйки", "Нова Таволжанка", "Журавлівка", "Козинка"]

SHELLING_RU = [
    "{v} подвергся обстрелу со стороны ВСУ. Пострадавших нет, повреждены {n} частных домов и линия электропередачи.",
    "Утром ВСУ обстреляли {v}. Ранен {n2} мирный житель, его доставили в городскую больницу. Оперативные службы работают на месте.",
    "За сутки зафиксировано {n} обстрелов территории {d_gen} района. Наиболее пострадал {v}: выбиты окна в {n2} домах.",
    "Повторный обстрел {v_gen}. Повреждены крыша школы и два автомобиля. Прошу жителей оставаться в укрытиях.",
    "Ночью {v} снова обстреляли из РСЗО. Пострадавших, к счастью, нет. Комиссия приступит к оценке ущерба утром.",
    "Сводка за день: {n} обстрелов, {n3} беспилотников сбито над регионом. В {v} повреждено газопроводное оборудование, газовики уже работают.",
    "Обстрел {v_gen} продолжается. Всех жителей прошу спуститься в подвалы и укрытия. Информацию уточняем.",
    "В результате обстрела {v_gen} погиб мужчина. Выражаю глубокие соболезнования родным и близким. Ещё {n2} человека ранены.",
    "Дрон-камикадзе атаковал автомобиль в {v}. Водитель получил осколочные ранения, состояние средней тяжести.",
]
SHELLING_EN = [
    "{v_en} came under shelling overnight; {n} houses were damaged, no casualties reported.",
    "Shelling of the {d_en} district continued today. Residents are urged to stay in shelters.",
    "Over the past day the region recorded {n} episodes of shelling and {n3} drones were shot down.",
]
SHELLING_UA = [
    "За добу зафіксовано {n} обстрілів прикордонних сіл. Поранених немає.",
    "Внаслідок обстрілів у {v_ua} пошкоджено {n} будинків. Служби працюють на місці.",
    "Ніч минула неспокійно: кілька обстрілів {v_ua}, пошкоджено лінію електропередачі.",
]

DEFENSE_RU = [
    "Продолжаем формирование батальонов территориальной обороны. В {d_loc} районе уже сформирован батальон численностью {n4} человек.",
    "Провёл совещание по самообороне. Все батальоны самообороны получили снаряжение, занятия проходят по графику.",
    "В {v} прошли учения отряда самообороны. Отрабатывали действия при обстреле и эвакуации мирных жителей.",
    "Территориальная оборона — это не разовая акция. Записаться в батальон можно в администрации своего муниципалитета.",
    "Сегодня встретился с бойцами батальонов территориальной обороны {d_gen} района. Ребята настроены серьёзно.",
    "В регионе действует уже {n} батальонов самообороны. Продолжаем обучение: тактическая медицина, стрельба, связь.",
    "Вдоль границы продолжаем копать траншеи и строить фортификационные сооружения. Работы в {d_loc} районе завершены на {p}%.",
    "Отряды самообороны {d_gen} района заступили на дежурство. Спасибо всем добровольцам!",
]
DEFENSE_EN = [
    "Self-defense units in the {d_en} district completed another round of training.",
    "We now have {n} battalions of territorial defense across the region; volunteers keep signing up.",
    "Met with self-defense units near the border today: equipment has been delivered to all battalions.",
]
DEFENSE_UA = [
    "Самооборона Бєлгородщини: набір до батальйону триває, звертайтеся до місцевих адміністрацій.",
    "Бійці батальйону самооборони пройшли навчання з тактичної медицини.",
    "Створено ще один загін — самооборона {v_ua} вже налічує {n4} добровольців.",
]

OTHER_RU = [
    "С {day} по {day2} ноября будет закрыт проезд по дороге {v} — {v2} в связи с ремонтом моста. Объезд организован через {v3}.",
    "Дорога на {v} временно перекрыта. Прошу пользоваться объездными маршрутами.",
    "Жители {v_gen}, временно размещённые в ПВР, получили выплаты. Всего в пунктах временного размещения находятся {n4} человек.",
    "Эвакуация детей из приграничных сёл продолжается. Сегодня в лагеря области отправлены {n4} ребят.",
    "Электроснабжение в {v} восстановлено полностью. Спасибо энергетикам за оперативную работу.",
    "В {v} временно отсутствует водоснабжение, подвоз воды организован. Ремонт займёт до {n2} суток.",
    "Отопительный сезон: подключены {p}% социальных объектов и жилых домов. Оставшиеся — до конца недели.",
    "Синоптики прогнозируют снег и гололёд. Прошу водителей быть внимательнее на дорогах, коммунальные службы переведены в усиленный режим.",
    "Завтра в регионе ожидаются заморозки до −{n}°C. Позаботьтесь о пожилых соседях.",
    "Сегодня открыли новый фельдшерско-акушерский пункт в {v}. Жители долго ждали этого события.",
    "Провёл прямой эфир, ответил на вопросы жителей о выплатах и восстановлении жилья.",
    "В Белгороде завершён ремонт {n} дворов по программе благоустройства.",
    "Поздравляю {n4} первокурсников аграрного университета с посвящением в студенты!",
    "Товарооборот с соседними регионами вырос на {p}%. Благодарю предпринимателей за работу в непростых условиях.",
    "Денежный оборот малого бизнеса в {d_loc} районе восстановился. Поддержку продолжим.",
    "Лучший стрелок областных соревнований по биатлону — школьник из {v_gen}. Поздравляю!",
    "Историческая реконструкция баталии Прохоровского сражения пройдёт в выходные. Приглашаю всех желающих.",
    "Восстановлено {n} домов, повреждённых в {v}. Семьи уже вернулись в свои квартиры.",
    "Компенсации за утраченное имущество выплачены {n4} семьям. Приём заявлений продолжается.",
    "Ярмарка выходного дня пройдёт в центре Белгорода. Фермеры привезут мясо, мёд и овощи.",
    "В {v} сегодня начали ремонт школы. Учебный процесс пока дистанционный.",
    "Начат приём заявок на гранты для молодых фермеров. Подробности — в администрациях районов.",
    "Завтра в {v} будет работать выездная приёмная: юристы, соцзащита, МФЦ.",
]
OTHER_EN = [
    "Power supply has been restored in {v_en}; thanks to the utility crews.",
    "Evacuation of children from border villages continues: {n4} kids were sent to camps today.",
    "The road to {v_en} is closed for repairs until the end of the week.",
    "Snow and ice are expected tomorrow; drivers, please take care.",
]
OTHER_UA = [
    "Електропостачання у {v_ua} відновлено.",
    "Завтра очікується сніг і ожеледиця, будьте обережні на дорогах.",
    "Евакуація дітей з прикордонних сіл триває.",
]

EN_VILLAGES = ["Shebekino", "Graivoron", "Valuyki", "Novaya Tavolzhanka", "Zhuravlyovka", "Kozinka"]
EN_DISTRICTS = ["Shebekino", "Graivoron", "Valuyki", "Belgorod"]
GENITIVE = {"Шебекино": "Шебекино", "Грайворон": "Грайворона", "Валуйки": "Валуек",
            "Новая Таволжанка": "Новой Таволжанки", "Журавлёвка": "Журавлёвки",
            "Головчино": "Головчино", "Козинка": "Козинки", "Муром": "Мурома",
            "Репяховка": "Репяховки", "Вознесеновка": "Вознесеновки", "Бессоновка": "Бессоновки",
            "Красная Яруга": "Красной Яруги", "Октябрьский": "Октябрьского",
            "Ясные Зори": "Ясных Зорь", "Глотово": "Глотово", "Нехотеевка": "Нехотеевки"}

TAILS_RU = ["Берегите себя.", "Будьте осторожны.", "Информацию уточняем.",
            "Все службы работают.", "Держимся!", ""]
FORWARD_SOURCES = ["Минобороны России", "РИА Новости", "ТАСС", "Белгород №1", "МЧС России"]
HASHTAGS = ["#Белгород", "#Шебекино", "#Грайворон", "#самооборона", "#ЖКХ", "#эвакуация"]
LINKS = ["https://belregion.ru/press/news/", "https://gosuslugi31.ru/", "https://vk.com/vvgladkov",
         "https://beldom.ru/uslugi/"]


def fill(rng: random.Random, tpl: str) -> str:
    v = rng.choice(VILLAGES)
    others = [x for x in VILLAGES if x != v]
    day = rng.randint(1, 25)
    d = rng.choice(DISTRICTS)
    return tpl.format(
        v=v, v2=rng.choice(others), v3=rng.choice(others), v_gen=GENITIVE[v],
        v_en=rng.choice(EN_VILLAGES), v_ua=rng.choice(UA_VILLAGES),
        d=d, d_loc=d[:-2] + "ом", d_gen=d[:-2] + "ого", d_en=rng.choice(EN_DISTRICTS),
        n=rng.randint(2, 19), n2=rng.randint(1, 4), n3=rng.randint(3, 30),
        n4=rng.randint(40, 900), p=rng.randint(40, 98), day=day, day2=day + rng.randint(1, 4),
    )


def compose(rng: random.Random, lang: str, topic: str) -> str:
    pools = {
        ("ru", "shell"): SHELLING_RU, ("ru", "def"): DEFENSE_RU, ("ru", "other"): OTHER_RU,
        ("en", "shell"): SHELLING_EN, ("en", "def"): DEFENSE_EN, ("en", "other"): OTHER_EN,
        ("uk", "shell"): SHELLING_UA, ("uk", "def"): DEFENSE_UA, ("uk", "other"): OTHER_UA,
    }
    pool = pools[(lang, topic)]
    parts = [fill(rng, rng.choice(pool))]
    if lang == "ru" and rng.random() < 0.35:
        second = fill(rng, rng.choice(pool))
        if second != parts[0]:
            parts.append(second)
    if lang == "ru":
        tail = rng.choice(TAILS_RU)
        if tail:
            parts.append(tail)
    return " ".join(parts)


def rich(rng: random.Random, body: str) -> list:
    """Turn a plain body into a Telegram 'text' list mixing strings and entities."""
    kind = rng.choice(["bold", "link", "hashtag", "mention", "text_link", "combo"])
    if kind == "bold":
        head, _, rest = body.partition(". ")
        return [{"type": "bold", "text": head + "."}, (" " + rest) if rest else ""]
    if kind == "link":
        return [body + "\n\nПодробнее: ", {"type": "link", "text": rng.choice(LINKS)}]
    if kind == "hashtag":
        return [body + "\n\n", {"type": "hashtag", "text": rng.choice(HASHTAGS)}, " ",
                {"type": "hashtag", "text": "#новости"}]
    if kind == "mention":
        return [body + " Задавайте вопросы ", {"type": "mention", "text": "@vvgladkov"}]
    if kind == "text_link":
        return [body + " Заявку можно подать ",
                {"type": "text_link", "text": "здесь", "href": rng.choice(LINKS)}, "."]
    return [{"type": "bold", "text": "Важно!"}, " " + body + " ",
            {"type": "hashtag", "text": rng.choice(HASHTAGS)}, "\n",
            {"type": "link", "text": rng.choice(LINKS)}]


def entities_of(text) -> list:
    if isinstance(text, str):
        return [{"type": "plain", "text": text}] if text else []
    out = []
    for part in text:
        if isinstance(part, str):
            if part:
                out.append({"type": "plain", "text": part})
        else:
            out.append(dict(part))
    return out


def fmt(dt: datetime) -> tuple[str, str]:
    return dt.strftime("%Y-%m-%dT%H:%M:%S"), str(int(dt.timestamp()))


def main() -> None:
    rng = random.Random(42)
    start = END_DAY - timedelta(days=DAYS - 1)

    # Timestamps spread over 30 days, 07:00-23:00 UTC, sorted.
    times = sorted(
        start + timedelta(days=rng.randrange(DAYS), hours=rng.randint(5, 20),
                          minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
        for _ in range(TOTAL)
    )

    # Pre-assign special roles to slots.
    idx = list(range(TOTAL))
    service_slots = set(rng.sample(idx[20:], 8))
    free = [i for i in idx if i not in service_slots]
    langs = {i: "ru" for i in free}
    picked = rng.sample(free, 30)
    for i in picked[:15]:
        langs[i] = "uk"
    for i in picked[15:]:
        langs[i] = "en"

    album_starts = sorted(rng.sample(range(10, TOTAL - 10, 55), 5))
    album_slots = {}
    for s in album_starts:
        size = rng.randint(3, 5)
        for k in range(size):
            if s + k not in service_slots:
                album_slots[s + k] = (s, k)

    messages: list[dict[str, Any]] = []
    msg_id = 1000
    last_album_time = {}
    pinned_candidates: list[Any] = []
    counts = {"rich": 0, "edited": 0, "fwd": 0, "reply": 0, "media_only": 0}

    for i, dt in enumerate(times):
        msg_id += rng.randint(1, 3)
        if i in album_slots:
            s, k = album_slots[i]
            if k == 0:
                last_album_time[s] = max(dt, messages[-1]["_dt"] + timedelta(seconds=1)) if messages else dt
            dt = last_album_time[s] + (timedelta(seconds=1) if k == 4 else timedelta(0))
        if messages and dt <= messages[-1]["_dt"] and i not in album_slots:
            dt = messages[-1]["_dt"] + timedelta(seconds=rng.randint(5, 300))
        date, unix = fmt(dt)

        if i in service_slots and pinned_candidates:
            target = rng.choice(pinned_candidates[-30:])
            messages.append({
                "_dt": dt, "id": msg_id, "type": "service", "date": date, "date_unixtime": unix,
                "actor": CHANNEL_NAME, "actor_id": FROM_ID, "action": "pin_message",
                "message_id": target, "text": "", "text_entities": [],
            })
            continue

        lang = langs.get(i, "ru")
        r = rng.random()
        topic = "shell" if r < 0.28 else ("def" if r < 0.46 else "other")
        body = compose(rng, lang, topic)
        msg: dict[str, Any] = {"_dt": dt, "id": msg_id, "type": "message", "date": date, "date_unixtime": unix}

        if i in album_slots:
            s, k = album_slots[i]
            msg["from"] = CHANNEL_NAME
            msg["from_id"] = FROM_ID
            msg["photo"] = f"photos/photo_{msg_id}@{dt.strftime('%d-%m-%Y_%H-%M-%S')}.jpg"
            msg["width"], msg["height"] = rng.choice([(1280, 960), (960, 1280), (1280, 853)])
            text: Any = body if k == 0 else ""
            msg["text"] = text
            msg["text_entities"] = entities_of(text)
            messages.append(msg)
            if k == 0:
                pinned_candidates.append(msg_id)
            continue

        msg["from"] = CHANNEL_NAME
        msg["from_id"] = FROM_ID

        # Edited
        if rng.random() < 0.08:
            ed = dt + timedelta(minutes=rng.randint(1, 90))
            msg["edited"], msg["edited_unixtime"] = fmt(ed)
            counts["edited"] += 1
        # Forward
        if rng.random() < 0.05:
            msg["forwarded_from"] = rng.choice(FORWARD_SOURCES)
            counts["fwd"] += 1
        # Reply
        elif rng.random() < 0.035 and len(pinned_candidates) > 5:
            msg["reply_to_message_id"] = rng.choice(pinned_candidates[-20:])
            counts["reply"] += 1

        # Media
        media_roll = rng.random()
        media_only = rng.random() < 0.055
        if media_roll < 0.25 or media_only:
            if rng.random() < 0.7:
                msg["photo"] = f"photos/photo_{msg_id}@{dt.strftime('%d-%m-%Y_%H-%M-%S')}.jpg"
                msg["width"], msg["height"] = rng.choice([(1280, 960), (960, 1280), (1280, 720)])
            else:
                msg["file"] = f"video_files/video_{msg_id}@{dt.strftime('%d-%m-%Y_%H-%M-%S')}.mp4"
                msg["thumbnail"] = msg["file"] + "_thumb.jpg"
                msg["media_type"] = "video_file"
                msg["mime_type"] = "video/mp4"
                msg["duration_seconds"] = rng.randint(8, 240)
                msg["width"], msg["height"] = 1280, 720

        if media_only:
            text = ""
            counts["media_only"] += 1
        elif lang == "ru" and rng.random() < 0.14:
            text = rich(rng, body)
            counts["rich"] += 1
        else:
            text = body
        msg["text"] = text
        msg["text_entities"] = entities_of(text)
        messages.append(msg)
        pinned_candidates.append(msg_id)

    for m in messages:
        del m["_dt"]
        full = m["text"] if isinstance(m["text"], str) else "".join(
            p if isinstance(p, str) else p["text"] for p in m["text"])
        assert "".join(e["text"] for e in m["text_entities"]) == full, m["id"]
        assert datetime.strptime(m["date"], "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=UTC).timestamp() == int(m["date_unixtime"])

    data = {"name": CHANNEL_NAME, "type": "public_channel", "id": CHANNEL_ID, "messages": messages}
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"messages: {len(messages)}  size: {OUT.stat().st_size} bytes  {counts}")


if __name__ == "__main__":
    main()
