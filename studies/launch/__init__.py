"""EMR launch: IHE Invoke Image Display (RAD-106) links, signed by the EMR, verified here.

``signing``  the canonical query and its HMAC-SHA256 (what the EMR must reproduce)
``iid``      the IID parameters, checked, as a ``LaunchRequest``
``service``  verify a link, use up its nonce, resolve its studies (locally, else on the PACS
             nodes, queuing retrieves), and make the scoped session account
``views``    the thin HTTP side: ``/IHEInvokeImageDisplay``, the landing page, its status

Scoping itself lives in ``studies.access``: a launched session's account has a
``LaunchGrant``, and ``visible_studies`` keeps it to the studies or patient of its link.
"""
