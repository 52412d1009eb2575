"""Keep files and index in step: deleting an instance row (directly, or by cascade from a
study, series or patient) removes its file once the deletion has committed; a file that
will not go is kept on record and retried (``studies.file_deletions``)."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from studies.file_deletions import Store, delete_once_committed
from studies.models import Instance, QuarantinedFile


@receiver(post_delete, sender=Instance)
def remove_instance_file(sender, instance: Instance, **kwargs) -> None:
    delete_once_committed(Store.DICOM, instance.file_path)


@receiver(post_delete, sender=QuarantinedFile)
def remove_quarantined_file(sender, instance: QuarantinedFile, **kwargs) -> None:
    path = instance.file_path
    if path and not QuarantinedFile.objects.filter(file_path=path).exists():
        delete_once_committed(Store.QUARANTINE, path)
