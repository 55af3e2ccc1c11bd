"""Query pass-through: a parameter the origin does not consume (a CMS's session id) appears on every
URL the origin writes — child playlists, segments, init segments, MPD templates, Smooth fragment
URLs — and those URLs answer 200."""

from __future__ import annotations

import re

import pytest

import clients
import playlists as pl

SESSION = "session_id=4157"


# subs.ism adds subtitle renditions (HLS WebVTT, DASH and Smooth text); both have I-frame playlists.
MANIFESTS = ["abr.ism", "subs.ism"]


@pytest.mark.parametrize("manifest", MANIFESTS)
@pytest.mark.parametrize("query", [SESSION, f"hls.fmp4=true&{SESSION}"])
def test_hls_child_urls_carry_the_query(server, manifest, query):
    master_url = server.url(f"{manifest}/.m3u8?{query}")
    master, children = pl.master_children(master_url)
    assert children
    for child in children:
        assert child.endswith("?" + query), f"media playlist URL without the query: {child}"
        mp = pl.media_playlist(child)
        urls = mp.segment_urls + [pl.absolute(child, s.init_section.uri)
                                  for s in mp.playlist.segments[:1] if s.init_section is not None]
        for url in urls:
            assert url.endswith("?" + query), f"{child}: segment URL without the query: {url}"
        for url in urls[:2] + urls[-1:]:
            assert clients.get(url).status == 200, url


@pytest.mark.parametrize("manifest", MANIFESTS)
def test_dash_templates_carry_the_query(server, manifest):
    mpd_url = server.url(f"{manifest}/.mpd?{SESSION}")
    _, reps = pl.dash(mpd_url)
    for rep in reps:
        assert rep.media.endswith("?" + SESSION) and rep.initialization.endswith("?" + SESSION), rep
        init, media = pl.dash_segment_urls(mpd_url, rep)
        for url in [init, media[0], media[-1]]:
            assert clients.get(url).status == 200, url


@pytest.mark.parametrize("manifest", MANIFESTS)
def test_smooth_fragment_template_carries_the_query(server, manifest):
    text = clients.get(server.url(f"{manifest}/Manifest?{SESSION}")).body.decode()
    urls = re.findall(r'Url="([^"]+)"', text)
    assert urls and all(u.endswith("?" + SESSION) for u in urls), urls


def test_hds_fragments_accept_the_query(server):
    # HDS clients append `Seg1-Frag<N>` to media@url themselves, so the F4M cannot carry the query
    # there (README); clients that copy the manifest's query onto fragments (yt-dlp does) get 200.
    import hds_fetch
    manifest_url = server.url(f"abr.ism/.f4m?{SESSION}")
    presentation = hds_fetch.load(manifest_url)
    assert presentation.media
    for media in presentation.media:
        assert "?" not in media.get("url")
        url = hds_fetch.fragment_url(manifest_url, media, 1, 1) + "?" + SESSION
        assert clients.get(url).status == 200, url
