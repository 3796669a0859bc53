"""English. Values are HTML templates for `t()` (placeholders get escaped), except `*_btn` (button
labels), `*_txt` (plain text) and `*_n` (plain plural forms: one|other) keys; see `bot.i18n`."""

STRINGS: dict[str, str] = {
    # gates and errors
    "refused_private": "Sorry, this bot is private: only people its administrator invited can use it. If you should have access, ask the administrator to add your Telegram id.",
    "slow_down": "You are sending commands faster than I can take them. Please wait about {seconds} s and try again.",
    "internal_error": "Something went wrong on my side and nothing was changed. Please try again in a minute.",
    "unknown_command": "I don't know the command <code>{command}</code>. Send /help to see what I can do.",
    "plain_text_hint": "To watch for words, send <code>/watch</code> followed by them, for example <code>/watch батальон</code>. /help lists everything I can do.",
    "group_admin_only": "Only this group's admins can change its rules and settings.",
    "not_registered": "This chat is not subscribed yet. Send /start to begin.",
    "button_stale": "This button is out of date. Please send the command again.",
    # start, help, language
    "start": "👋 <b>Hi! I watch public Telegram channels for the words you care about</b> and send you a digest with links to the posts.\n\n1. Add a rule: <code>/watch батальон</code>\n2. Pick the channels: /channels\n3. Choose when to hear from me: /settings (a daily digest at 09:00 Moscow time by default)\n\nAny time: /digest sends what matched since the last digest, /help lists every command.",
    "start_again": "👋 Welcome back! Your rules and settings are as you left them: /rules, /settings. /help lists every command.",
    "start_group": "👋 Hi, group! I will send this group a digest of the channel posts that match its rules. Only the group's admins can change the rules and settings: <code>/watch батальон</code>, /channels, /settings. /help lists every command.",
    "group_welcome": "👋 Thanks for adding me! I watch public Telegram channels and send a digest of the posts that match your rules, with links to the originals. A group admin subscribes this group with /start, then adds a rule: <code>/watch батальон</code>. /help lists every command.",
    "help": (
        "<b>Commands</b>\n"
        "/start: subscribe this chat and take the tour; /help: this list\n"
        "/watch RULE: add a rule, e.g. <code>/watch батальон</code>\n"
        "/rules: your rules, each with a delete button\n"
        "/unwatch N or RULE: delete a rule, e.g. <code>/unwatch 2</code>\n"
        "/search RULE: search stored posts now, e.g. <code>/search обстрел AND Белгород</code>\n"
        "/channels: the watched channels; follow or unfollow each\n"
        "/follow LINK: ask to watch a channel, e.g. <code>/follow https://t.me/vvgladkov</code>\n"
        "/settings: frequency, time, timezone, quiet hours, digest size, e.g. <code>/settings time 07:30</code>, <code>/settings tz Москва</code>, <code>/settings quiet 22:00-07:00</code>\n"
        "/digest: what matched since your last digest, now; <code>/digest week</code>: the last 7 days\n"
        "/pause and /resume: stop and restart digests\n"
        "/export: your rules and the last 30 days of matches as a CSV file\n"
        "/lang: language, e.g. <code>/lang ru</code>\n"
        "/stop: delete all your data (asks first)\n"
        "/admin stats | users | channels: for the bot's administrators\n\n"
        "<b>Rules</b>\n"
        "<code>батальон</code>: the word in any form (батальона, батальоны); Russian, Ukrainian and English; case and ё/е ignored\n"
        "<code>обстрел Белгород</code> or <code>обстрел AND Белгород</code>: both words\n"
        "<code>shelling OR обстрел</code>: either one (also ИЛИ); parentheses group: <code>(обстрел OR взрыв) Белгород</code>\n"
        '<code>"territorial defense"</code>: the exact phrase\n'
        "<code>battalion -ukraine</code>: without the second word (also NOT, НЕ)\n"
        "<code>=Белгород</code>: exactly this form; <code>батальон in:@vvgladkov</code>: only in that channel\n"
        "<code>оборон*</code>: every word that starts so. Word forms do not link verbs and nouns: <code>обстрел</code> does not find <code>обстреляли</code>, <code>обстрел*</code> does\n"
        "<code>/re2 pattern/</code>: a regular expression (RE2; a few per user). <code>\\b</code>, <code>\\w</code> and <code>\\d</code> only know Latin letters, so <code>/\\bбатальон\\b/</code> never matches: write plain words instead."
    ),
    "lang_choose": "Choose the language:",
    "lang_unknown": "I don't have the language <code>{value}</code>.",
    "lang_set": "Language: English. /help lists the commands.",
    "language_name_btn": "English",
    "add_rule_btn": "➕ Add a rule",
    "channels_btn": "📢 Channels",
    "settings_btn": "⚙️ Settings",
    "help_btn": "❓ Help",
    "my_rules_btn": "📋 My rules",
    "watch_prompt": "Send me the words to watch for, for example <code>батальон</code> or <code>обстрел AND Белгород</code>.",
    # rules
    "watch_usage": "Write the words after the command, for example <code>/watch батальон</code> or <code>/watch shelling OR обстрел</code>. /help explains rules.",
    "rule_error": "That rule does not work: {error}{where}.\nA rule that works: <code>/watch {example}</code>",
    "rule_error_column": " (at character {column})",
    "rule_bad_character": "That rule holds a control character or an invalid one{where}, which a rule cannot use. Type the rule as plain text, for example <code>/watch {example}</code>",
    "regex_too_slow": "That /pattern/ is too slow to run on every post{where}: it has too many optional parts or repetitions. Simplify it, for example <code>/watch {example}</code>",
    "watch_comma_list": "A comma list is ambiguous. Did you mean any of these words? <code>/watch {any}</code>\nOr all of them in one post: <code>/watch {all}</code>",
    "rule_exists": "You already have this rule (number {number}): <code>{rule}</code>",
    "rule_quota": "You have {limit} rules, the most allowed. Delete one in /rules first.",
    "regex_quota": "You already have {limit} regular-expression rules, the most allowed. Use plain words, or delete one in /rules.",
    "rule_added": "✅ Rule {number} added: <code>{rule}</code>",
    "dry_run": "In the last {days} days it matches <b>{posts}</b>: /digest week shows them now; your digests and alerts bring what is published from now on. The newest:",
    "stored_posts_n": "{count} stored post|{count} stored posts",
    "dry_run_none": "No stored post of the last {days} days matches it yet. If you expected some, try a shorter word or a prefix such as <code>обстрел*</code>.",
    "dry_run_unavailable": "(A preview of past matches is not available right now.)",
    "delete_rule_btn": "🗑 Delete this rule",
    "rules_empty": "You have no rules yet. Add one: <code>/watch батальон</code>",
    "rules_header": "<b>Your rules</b> ({count} of {limit}):",
    "rules_footer": "Press 🗑 N to delete rule N, or send <code>/unwatch N</code>.",
    "delete_n_btn": "🗑 {number}",
    "rule_deleted": "🗑 Deleted the rule <code>{rule}</code>.",
    "rule_deleted_toast": "Deleted: {rule}",
    "rule_gone": "That rule does not exist (any more). Send /rules for the current list.",
    "unwatch_usage": "Say which rule to delete: its number from /rules or its text, for example <code>/unwatch 1</code> or <code>/unwatch батальон</code>.",
    "unwatch_not_found": "No rule is numbered or written <code>{value}</code>. You have {count} rules: see /rules.",
    "search_usage": "Write what to look for after the command, for example <code>/search обстрел AND Белгород</code>.",
    "search_none": "No stored post matches <code>{rule}</code>.",
    "search_header": "🔎 <code>{rule}</code>: <b>{count}</b> posts; the newest {shown}:",
    "search_unavailable": "Search is not available right now. Please try later.",
    # channels
    "channels_empty": "No channels are watched yet. Ask for one: <code>/follow https://t.me/vvgladkov</code>",
    "channels_header": "<b>Watched channels</b>: {count}; you follow {following}.",
    "channels_footer": "You follow every watched channel unless you turn it off here. Ask for a new one with <code>/follow LINK</code>.",
    "follow_btn": "➕ Follow {name}",
    "unfollow_btn": "✅ {name} (press to unfollow)",
    "followed_toast": "Following {name}",
    "unfollowed_toast": "Unfollowed {name}",
    "channel_gone": "That channel is not watched any more. Send the command again for the current list.",
    "follow_usage": "Send a channel's public link or @username after the command, for example <code>/follow https://t.me/vvgladkov</code> or <code>/follow @vvgladkov</code>.",
    "follow_unavailable": "Adding channels is not available right now. Please try later.",
    "channel_error": "I can't watch that channel: {error}",
    "follow_needs_username": "I need the channel's public @username or t.me link, for example <code>/follow @vvgladkov</code>.",
    "follow_exists": "{name} is already watched, and you follow it. Its matches will be in your digests.",
    "follow_pending_already": "{name} is already waiting for an administrator's approval.",
    "follow_approved": "✅ {name} is watched now: an administrator approved your request. /channels shows it.",
    "follow_rejected": "An administrator declined your request to watch {name}.",
    "follow_queued": "📨 Asked for {name}. An administrator will review it; once approved, it appears in /channels.",
    "follow_added": "✅ Now watching {name}. Its recent posts are being read; new ones count for your rules.",
    "follow_quota": "You have asked for {limit} channels, the most allowed.",
    # settings
    "settings_screen": "⚙️ <b>Settings</b>\nFrequency: {frequency}\nDelivery time: {time} ({timezone})\nWeekly digest day: {weekday}\nQuiet hours: {quiet}\nDigest size: {size}\nPaused: {paused}",
    "settings_saved": "✅ Saved.",
    "settings_unknown": "There is no setting <code>{name}</code>. Use time, tz, frequency, quiet, size or day, for example <code>/settings time 07:30</code>, or just /settings for buttons.",
    "settings_usage": "Give a value too, for example <code>/settings time 07:30</code>, <code>/settings tz Europe/Moscow</code>, <code>/settings frequency daily</code>, <code>/settings quiet 22:00-07:00</code>, <code>/settings size 10</code>, <code>/settings day mon</code>.",
    "bad_time": "<code>{value}</code> is not a time of day. Write it as HH:MM, for example <code>07:30</code>.",
    "bad_timezone": "I don't know the timezone <code>{value}</code>. Send a city (<code>Moscow</code>, <code>Киев</code>), an IANA name (<code>Europe/Moscow</code>) or an offset from UTC (<code>UTC+3</code>, <code>-5</code>).",
    "bad_frequency": "<code>{value}</code> is not a frequency: use instant, daily or weekly.",
    "bad_quiet": "<code>{value}</code> is not a quiet period. Write two different times, for example <code>22:00-07:00</code>, or <code>off</code>.",
    "bad_size": "<code>{value}</code> is not a digest size: a number of items from 1 to 500, or <code>all</code>.",
    "bad_weekday": "<code>{value}</code> is not a day of the week: mon, tue, …, sun, or 1-7.",
    "choose_frequency": "How often should I send matches? Instant: as they come (outside quiet hours); daily or weekly: one digest.",
    "choose_hour": "At what hour should the digest come?",
    "choose_minute": "And the minutes after {hour}?",
    "choose_timezone": "Choose your timezone, or send a city name (<code>Москва</code>, <code>Berlin</code>) or a UTC offset (<code>UTC+3</code>).",
    "choose_quiet": "Quiet hours: no instant messages in this period; what matched meanwhile comes together when it ends. Daily and weekly digests keep their time.",
    "choose_size": "How many items should a digest show? The rest are counted at the end.",
    "choose_weekday": "On which day should the weekly digest come?",
    "saved_toast": "Saved",
    "set_frequency_btn": "🔁 Frequency",
    "set_time_btn": "🕘 Time",
    "set_timezone_btn": "🌍 Timezone",
    "set_quiet_btn": "🌙 Quiet hours",
    "set_size_btn": "📏 Digest size",
    "set_weekday_btn": "📅 Weekly day",
    "back_btn": "‹ Back",
    "off_btn": "off",
    "yes_btn": "yes",
    "no_btn": "no",
    "size_all_btn": "all",
    "freq_instant_btn": "instant",
    "freq_daily_btn": "daily",
    "freq_weekly_btn": "weekly",
    "day_0_btn": "Monday",
    "day_1_btn": "Tuesday",
    "day_2_btn": "Wednesday",
    "day_3_btn": "Thursday",
    "day_4_btn": "Friday",
    "day_5_btn": "Saturday",
    "day_6_btn": "Sunday",
    # digest, pause, export, stop
    "digest_usage": "Send /digest for everything since your last digest, or <code>/digest week</code> for the last 7 days.",
    "digest_empty": "Nothing new has matched your rules since your last digest.",
    "digest_empty_week": "Nothing has matched your rules in the last 7 days.",
    "digest_queued": "📬 Your digest is on its way: {items} in {chunks}.",
    "digest_unavailable": "Digests are not available right now. Please try later.",
    "paused": "⏸ Paused: no digests until you send /resume. Your rules keep collecting matches.",
    "already_paused": "Digests are already paused. /resume restarts them.",
    "resumed": "▶️ Resumed: digests come again as set in /settings.",
    "already_running": "Digests are not paused.",
    "export_done": "📄 Your {rules} rules and {matches} matches of the last {days} days.",
    "stop_confirm": "⚠️ This deletes everything I keep for this chat: rules, matches, settings and digests. It cannot be undone. Delete?",
    "stop_yes_btn": "🗑 Yes, delete everything",
    "stop_no_btn": "Cancel",
    "stop_cancelled": "Nothing was deleted.",
    "stop_done": "Done: everything about this chat is deleted. Send /start if you want to come back.",
    "stop_nothing": "I keep nothing for this chat. Send /start to subscribe.",
    # admin
    "admin_only": "This command is for the bot's administrators.",
    "admin_private_only": "Use /admin in a private chat with me, not in a group.",
    "admin_help": "<code>/admin stats</code>, <code>/admin users</code>, <code>/admin channels</code>, <code>/admin channels add LINK</code>, <code>/admin channels approve|reject|remove @name</code>",
    "admin_stats": "<b>Stats</b>\nSubscribers: {subscribers} active ({groups} groups), {paused} paused, {inactive} gone\nRules: {rules}\nChannels: {channels} watched, {pending} waiting for approval\nPosts: {posts} (newest {newest})\nMatches: {matches}\nDigests sent: {digests}\nOutbox: {outbox} waiting, {failed} failed or uncertain",
    "admin_no_users": "No subscribers yet.",
    "admin_users_header": "<b>Subscribers</b> ({count}): chat · language · frequency · rules",
    "admin_channels_header": "<b>Channels</b>: {active} watched, {pending} waiting for approval",
    "admin_channels_footer": "Add one: <code>/admin channels add https://t.me/NAME</code>",
    "admin_channel_failing": "⚠️ Channel {channel} cannot be read: {reason}\nIt is retried with backoff; the other channels go on. <code>tgmon channels list</code> shows its state.",
    "admin_more": "… and more; use <code>/admin channels approve|remove @name</code>.",
    "admin_no_channel": "No channel <code>{name}</code> is known.",
    "admin_no_resolver": "This process cannot look channels up on Telegram. Add it on the ingest host: <code>tgmon channels add {name}</code>",
    "approve_btn": "✅ Approve {name}",
    "reject_btn": "✖ Reject",
    "remove_btn": "🗑 Remove {name}",
    "approved_toast": "Approved {name}",
    "rejected_toast": "Rejected {name}",
    "removed_toast": "Removed {name}",
    # digests and instant alerts (bot/digest): titles are plain text, escaped by the renderer
    "digest_daily_txt": "Daily digest, {date}",
    "digest_weekly_txt": "Weekly digest, {span}",
    "digest_weekly_until_txt": "Weekly digest, until {date}",
    "digest_instant_txt": "New matches",
    "digest_preview_txt": "Digest {span}",
    "digest_preview_until_txt": "Digest until {date}",
    "digest_heading_txt": "{title}: {items}",
    "digest_items_n": "{count} item|{count} items",
    "digest_messages_n": "{count} message|{count} messages",
    "digest_more_n": "… and {count} more|… and {count} more",
    "digest_also_in": "<i>also in: {channels}</i>",
    "digest_also_matches": "<i>also matches: {rules}</i>",
    "chart_title_txt": "Matches per day",
    "chart_axis_txt": "posts",
    "chart_other_txt": "other",
}

# Dates in digest titles are numeric in English (24.11.2026); chart days are "Mon 24.11".
WEEKDAYS_SHORT = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
