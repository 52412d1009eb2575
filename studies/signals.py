"""Keep files and index in step: deleting an instance row (directly, or by cascade from a
study, series or patient) removes its file once the deletion has committed."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from studies.models import Instance, QuarantinedFile
from studies.storage import dicom_store, quarantine_store


@receiver(post_delete, sender=Instance)
def remove_instance_file(sender, instance: Instance, **kwargs) -> None:
    path = instance.file_path
    transaction.on_commit(lambda: dicom_store().delete(path))


@receiver(post_delete, sender=QuarantinedFile)
def remove_quarantined_file(sender, instance: QuarantinedFile, **kwargs) -> None:
    path = instance.file_path
    if path and not QuarantinedFile.objects.filter(file_path=path).exists():
        transaction.on_commit(lambda: quarantine_store().delete(path))
