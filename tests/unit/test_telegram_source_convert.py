"""Real Telethon messages -> domain.Post: media types, forwards, albums, service messages, edits."""

from __future__ import annotations

from datetime import UTC, datetime

from telethon.tl import types

from bot import domain
from bot.telegram.convert import AlbumBuffer, media_type, to_post, to_posts

REF = domain.ChannelRef(1302282372, "vvgladkov", "Гладков")
T0 = datetime(2026, 11, 24, 6, tzinfo=UTC)


def _msg(mid: int, text: str = "", **fields: object) -> types.Message:
    return types.Message(id=mid, peer_id=types.PeerChannel(REF.telegram_id), date=T0, message=text, **fields)


def _document(*attributes: object) -> types.MessageMediaDocument:
    doc = types.Document(id=1, access_hash=1, file_reference=b"", date=T0, mime_type="x", size=1, dc_id=2,
                         attributes=list(attributes))
    return types.MessageMediaDocument(document=doc)


def test_media_types() -> None:
    assert media_type(None) is None
    assert media_type(types.MessageMediaWebPage(webpage=types.WebPageEmpty(id=1))) is None  # a link preview
    assert media_type(types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))) == "photo"
    assert media_type(_document(types.DocumentAttributeVideo(duration=1, w=1, h=1))) == "video"
    assert media_type(_document(types.DocumentAttributeVideo(duration=1, w=1, h=1, round_message=True))) == "video_note"
    assert media_type(_document(types.DocumentAttributeAudio(duration=1, voice=True))) == "voice"
    assert media_type(_document(types.DocumentAttributeAudio(duration=1))) == "audio"
    assert media_type(_document(types.DocumentAttributeAnimated(), types.DocumentAttributeVideo(duration=1, w=1, h=1))) \
        == "gif"
    assert media_type(_document(types.DocumentAttributeFilename(file_name="a.pdf"))) == "document"
    assert media_type(types.MessageMediaGeo(geo=types.GeoPointEmpty())) == "location"


def test_plain_post_fields() -> None:
    reply = types.MessageReplyHeader(reply_to_msg_id=7)
    post = to_post(_msg(9, "Текст", views=120, reply_to=reply, edit_date=datetime(2026, 11, 24, 7)), REF)
    assert post == domain.Post(REF, 9, T0, "Текст", edit_date=datetime(2026, 11, 24, 7, tzinfo=UTC), views=120,
                               reply_to=7)


def test_hidden_edit_is_not_an_edit_date() -> None:
    assert to_post(_msg(1, "x", edit_date=T0, edit_hide=True), REF).edit_date is None


def test_forward_keeps_origin_channel_and_message() -> None:
    header = types.MessageFwdHeader(date=T0, from_id=types.PeerChannel(555), channel_post=42, post_author="Ред.")
    post = to_post(_msg(1, "перепост", fwd_from=header), REF)
    assert post.forward == domain.ForwardOrigin(555, 42, "Ред.")
    by_name = to_post(_msg(2, "", fwd_from=types.MessageFwdHeader(date=T0, from_name="Аноним")), REF)
    assert by_name.forward == domain.ForwardOrigin(None, None, "Аноним")


def test_service_messages_are_skipped_and_albums_merged() -> None:
    photo = types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))
    messages = [
        _msg(1, "до"),
        types.MessageService(id=2, peer_id=types.PeerChannel(REF.telegram_id), date=T0,
                             action=types.MessageActionPinMessage()),
        *(_msg(3 + i, "подпись" if i == 2 else "", grouped_id=5, media=photo, views=10 + i) for i in range(5)),
        _msg(8, "после"),
    ]
    posts = list(to_posts(messages, REF))
    assert [(p.message_id, p.text, p.media_type) for p in posts] == [
        (1, "до", None), (3, "подпись", "album"), (8, "после", None)]
    assert posts[1].views == 14
    assert posts[1].grouped_id == 5


def test_album_buffer_holds_an_album_across_pages() -> None:
    photo = types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))
    buffer = AlbumBuffer()
    page1 = [to_post(_msg(i, "", grouped_id=9, media=photo), REF) for i in (1, 2)]
    page2 = [to_post(_msg(3, "caption", grouped_id=9, media=photo), REF), to_post(_msg(4, "next"), REF)]
    out = [p for post in page1 for p in buffer.push(post)]
    assert out == []
    out = [p for post in page2 for p in buffer.push(post)] + buffer.flush()
    assert [(p.message_id, p.text) for p in out] == [(1, "caption"), (4, "next")]


def test_two_captions_are_joined() -> None:
    photo = types.MessageMediaPhoto(photo=types.PhotoEmpty(id=1))
    msgs = [_msg(1, "первая", grouped_id=3, media=photo), _msg(2, "вторая", grouped_id=3, media=photo)]
    [post] = to_posts(msgs, REF)
    assert post.text == "первая\n\nвторая"
